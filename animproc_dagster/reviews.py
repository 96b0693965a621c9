"""Review gates: a reviewed-label file becomes an observation of the gate's external asset, and the assets
downstream of the gate run for that film. Shared by the review sensor and `animproc run`.

A finished review is one decision, identified by its decision version (a hash of what the review decided).
It is reported once, as an observation with that version as the gate asset's data version (observations are
what Dagster reads an external asset's data version from, so the UI marks its downstream stale too). Whoever
comes second (the sensor after `animproc run`, or the other way round) finds the decision recorded and does
not act on it again. What it makes run is what its new version makes out of date, nothing upstream."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from dagster import AssetKey, AssetObservation, DagsterInstance, MetadataValue

from animproc.errors import AnimprocError
from animproc.review.labels import Review, load_review, review_digest, review_path
from animproc.storage import Storage
from animproc_dagster.staleness import DATA_VERSION_TAG, current_data_version, out_of_date


@dataclass(frozen=True)
class Gate:
    kind: str  # the review file's name: {root}/{film}/reviews/{kind}.json
    asset: str  # the external asset the review is reported as
    job: str  # the job that materialises what depends on the review
    # (external asset, decisions key): that part of the decisions is reported as its own asset, so changing it
    # re-runs only what reads it (a voice decision: character_voices on, not characters)
    parts: tuple[tuple[str, str], ...] = ()

    @property
    def assets(self) -> tuple[str, ...]:
        return (self.asset, *(asset for asset, _ in self.parts))


GATES = (  # in pipeline order
    Gate("instances", "instance_review", "instances_reviewed"),
    Gate("identities", "identity_review", "identities_reviewed", parts=(("voice_review", "voices"),)))
# run before the gates (they work without reviewed data) and again after the last one, which they then read
REVIEW_READERS = ("shot_structure", "motion", "effects_catalog")
REVIEW_TAG = "animproc/review"  # on a run acting on a decision: "{kind}:{decision version}"


def decision_version(review: Review) -> str:
    """What the review decided, hashed: saving the same decisions again (a new file version, a new saved_at)
    is the same decision and re-runs nothing."""
    decided = {"decided_by": review.decided_by, "decisions": review.decisions, "extra": review.extra}
    return _digest(decided)


def _digest(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:24]


def part_versions(review: Review, gate: Gate) -> dict[str, str]:
    """The data version of each asset the gate reports: its parts' decisions hashed alone, the rest of the
    decision (without them) as the gate asset's. Without parts in the decisions the gate asset's version is
    the whole decision version."""
    keys = {key for _, key in gate.parts}
    rest = {k: v for k, v in review.decisions.items() if k not in keys}
    return {gate.asset: _digest({"decided_by": review.decided_by, "decisions": rest, "extra": review.extra}),
            **{asset: _digest(review.decisions.get(key) or {}) for asset, key in gate.parts}}


@dataclass
class ReviewUpdate:
    film: str
    gate: Gate
    digest: str
    review: Review | None = None
    error: str | None = None

    @property
    def version(self) -> str:
        return decision_version(self.review)

    @property
    def versions(self) -> dict[str, str]:
        """The data version each of the gate's assets takes from this decision."""
        return part_versions(self.review, self.gate)

    @property
    def run_tag(self) -> dict[str, str]:
        return {REVIEW_TAG: f"{self.gate.kind}:{self.version}"}

    def reported(self, instance: DagsterInstance) -> bool:
        """Whether this decision is already the current data version of the gate's assets (reported by the
        sensor or by `animproc run`)."""
        return all(current_data_version(instance, AssetKey(asset), self.film, external=True) == version
                   for asset, version in self.versions.items())

    def observations(self, storage: Storage) -> list[AssetObservation]:
        """The gate asset's observation and one per part (with the part's data version)."""
        versions, r = self.versions, self.review
        parts = [AssetObservation(asset_key=asset, partition=self.film, tags={DATA_VERSION_TAG: versions[asset]},
                                  metadata={"version": r.version, "decisions": len(r.decisions.get(key) or {}),
                                            "decision_version": self.version})
                 for asset, key in self.gate.parts]
        return [self.observation(storage), *parts]

    def observation(self, storage: Storage) -> AssetObservation:
        r = self.review
        if self.gate.kind == "identities":
            clusters = r.decisions.get("clusters", {})
            summary = {"clusters": sum(1 for c in clusters.values() if c.get("character", True)),
                       "named": sum(1 for c in clusters.values() if c.get("name")),
                       "faces": len(r.decisions.get("faces", {})),
                       "instances_assigned": len(r.decisions.get("instances", {}))}
        else:
            kept = sum(1 for d in r.decisions.values() if d.get("keep"))
            summary = {"decisions": len(r.decisions), "kept": kept, "discarded": len(r.decisions) - kept}
        return AssetObservation(
            asset_key=self.gate.asset, partition=self.film, tags={DATA_VERSION_TAG: self.versions[self.gate.asset]},
            metadata={
                "version": r.version, "decided_by": r.decided_by, "saved_at": r.saved_at or "", **summary,
                "digest": self.digest, "decision_version": self.version,
                "path": MetadataValue.path(str(review_path(storage, self.film, self.gate.kind)))})


def review_update(storage: Storage, film: str, gate: Gate, last_digest: str | None) -> ReviewUpdate | None:
    """The film's review file for `gate` when it changed since `last_digest`: parsed, or with the error
    that keeps it from being used."""
    try:
        digest = review_digest(storage, film, gate.kind)
    except OSError as exc:
        return ReviewUpdate(film, gate, "", error=f"{review_path(storage, film, gate.kind)}: cannot be read ({exc})")
    if digest is None or digest == last_digest:
        return None
    try:
        return ReviewUpdate(film, gate, digest, review=load_review(storage, film, gate.kind))
    except AnimprocError as exc:
        return ReviewUpdate(film, gate, digest, error=str(exc))
    except Exception as exc:  # never expected (the parser raises only ReviewFileError), but one film's file
        # must not stop the sensor's tick for every film
        return ReviewUpdate(film, gate, digest, error=f"{review_path(storage, film, gate.kind)}: cannot be used "
                                                      f"({type(exc).__name__}: {exc})")


def gate_assets(instance: DagsterInstance, graph, job_keys: set[AssetKey], film: str, gate: Gate,
                version: str | dict[str, str] | None = None) -> dict[AssetKey, str]:
    """What the gate's job must run for `film`, with why: its out-of-date assets, judged with the gate's assets
    at `version` (the gate asset's, or a ReviewUpdate's `versions`) when that decision is not recorded yet.
    The assets that read reviewed products declare them (optional inputs), so a decision makes them out of
    date through the graph like any other."""
    versions = {gate.asset: version} if isinstance(version, str) else dict(version or {})
    overrides = {AssetKey(asset): v for asset, v in versions.items()}
    return {k: why for k, why in out_of_date(instance, graph, film, overrides).items() if k in job_keys}
