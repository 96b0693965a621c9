"""Review gates: a reviewed-label file becomes a materialisation of the gate's external asset, and the
assets downstream of the gate run for that film. Shared by the review sensor and `animproc run`."""
from __future__ import annotations

from dataclasses import dataclass

from dagster import AssetMaterialization, MetadataValue

from animproc.errors import AnimprocError
from animproc.review.labels import Review, load_review, review_digest, review_path
from animproc.storage import Storage


@dataclass(frozen=True)
class Gate:
    kind: str  # the review file's name: {root}/{film}/reviews/{kind}.json
    asset: str  # the external asset the review is reported as
    job: str  # the job that materialises what depends on the review


GATES = (  # in pipeline order
    Gate("instances", "instance_review", "instances_reviewed"),
    Gate("identities", "identity_review", "identities_reviewed"))
# run before the gates (they work without reviewed data) and again after the last one, which they then read
REVIEW_READERS = ("shot_structure", "motion", "effects_catalog")


@dataclass
class ReviewUpdate:
    film: str
    gate: Gate
    digest: str
    review: Review | None = None
    error: str | None = None

    def materialization(self, storage: Storage) -> AssetMaterialization:
        r = self.review
        if self.gate.kind == "identities":
            clusters = r.decisions.get("clusters", {})
            summary = {"clusters": sum(1 for c in clusters.values() if c.get("character", True)),
                       "named": sum(1 for c in clusters.values() if c.get("name")),
                       "faces": len(r.decisions.get("faces", {}))}
        else:
            kept = sum(1 for d in r.decisions.values() if d.get("keep"))
            summary = {"decisions": len(r.decisions), "kept": kept, "discarded": len(r.decisions) - kept}
        return AssetMaterialization(asset_key=self.gate.asset, partition=self.film, metadata={
            "version": r.version, "decided_by": r.decided_by, "saved_at": r.saved_at or "", **summary,
            "digest": self.digest, "path": MetadataValue.path(str(review_path(storage, self.film, self.gate.kind)))})


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
