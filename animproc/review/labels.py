"""Reviewed-label files: `{root}/{film}/reviews/{kind}.json`, written atomically with a version that grows by
one on every save, so a writer holding an older version is refused instead of silently overwriting."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone

from animproc.errors import AnimprocError
from animproc.films import path_component_problem
from animproc.storage import Storage

FORMAT = "animproc-review/1"
KINDS = ("instances", "identities")
INSTANCE_CATEGORIES = ("character", "object", "background")


class ReviewFileError(AnimprocError):
    def __init__(self, path: str, problem: str):
        self.path = str(path)
        super().__init__(f"{self.path}: {problem}")


class VersionConflict(AnimprocError):
    def __init__(self, expected: int, current: int):
        self.current = current
        super().__init__(f"the review was saved elsewhere (version {current}, this page had {expected}): reload")


@dataclass
class Review:
    film: str
    kind: str
    version: int = 0
    submitted: bool = False
    decided_by: str = "person"
    saved_at: str | None = None
    decisions: dict[str, dict] = field(default_factory=dict)
    extra: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"format": FORMAT, "film": self.film, "kind": self.kind, "version": self.version,
                "submitted": self.submitted, "decided_by": self.decided_by, "saved_at": self.saved_at,
                "decisions": self.decisions, **self.extra}


def character_folder(key: str, cluster: dict) -> str:
    """The folder a reviewed cluster's character gets under `characters/`: its name, else `character_{key}`."""
    return (cluster.get("name") or f"character_{key}").strip()


def review_path(storage: Storage, film: str, kind: str):
    return storage.film_dir(film) / "reviews" / f"{kind}.json"


def _check_component(name, what: str, where: str) -> None:
    """Keys and names become folder names (`characters/{name}/`, `character_{key}`): the storage's one rule."""
    problem = path_component_problem(name)
    if problem:
        raise ReviewFileError(where, f"{what} cannot be used as a folder name: {problem}")


def _check_instance_decisions(decisions: dict, where: str) -> None:
    for key, d in decisions.items():
        _check_component(key, f"instance id {key!r}", where)
        if not isinstance(d, dict):
            raise ReviewFileError(where, f"decision for {key!r} must be an object")
        if d.get("keep") not in (True, False):
            raise ReviewFileError(where, f"decision for {key!r}: 'keep' must be true or false")
        if d.get("category") is not None and d["category"] not in INSTANCE_CATEGORIES:
            raise ReviewFileError(where, f"decision for {key!r}: unknown category {d['category']!r}")


def _check_identity_decisions(decisions: dict, where: str) -> None:
    faces, clusters = decisions.get("faces", {}), decisions.get("clusters", {})
    if not isinstance(faces, dict) or not isinstance(clusters, dict) or set(decisions) - {"faces", "clusters"}:
        raise ReviewFileError(where, "identity decisions must be "
                                     "{'faces': {face: cluster}, 'clusters': {cluster: {...}}}")
    for face, cluster in faces.items():
        _check_component(face, f"face id {face!r}", where)
        if not isinstance(cluster, str) or not cluster:
            raise ReviewFileError(where, f"face {face!r}: its cluster must be a non-empty string")
        _check_component(cluster, f"face {face!r}: cluster key {cluster!r}", where)
    for key, c in clusters.items():
        _check_component(key, f"cluster key {key!r}", where)
        if not isinstance(c, dict):
            raise ReviewFileError(where, f"cluster {key!r} must be an object")
        name = c.get("name")
        if name is not None:
            _check_component(name.strip() if isinstance(name, str) else name,
                             f"cluster {key!r}: name {name!r}", where)
            c["name"] = name.strip()
        _check_component(character_folder(key, c), f"cluster {key!r}: its folder", where)
        if c.get("character", True) not in (True, False):
            raise ReviewFileError(where, f"cluster {key!r}: 'character' must be true or false")
    names = [c["name"].strip() for c in clusters.values() if c.get("name") and c.get("character", True)]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ReviewFileError(where, f"two clusters carry the same name ({', '.join(dupes)}): merge them instead")


def parse_review(data: bytes | str, where: str, film: str, kind: str) -> Review:
    """A validated review; a half-written or malformed file raises ReviewFileError naming the problem."""
    try:
        doc = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ReviewFileError(where, f"not valid JSON (half-written or corrupt?): {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ReviewFileError(where, f"not an animproc review file (expected format {FORMAT!r})")
    if doc.get("film") != film or doc.get("kind") != kind:
        raise ReviewFileError(where, f"is a {doc.get('kind')!r} review of film {doc.get('film')!r}, "
                                     f"expected {kind!r} of {film!r}")
    version = doc.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise ReviewFileError(where, "'version' must be a non-negative integer")
    decisions = doc.get("decisions")
    if not isinstance(decisions, dict):
        raise ReviewFileError(where, "'decisions' must be an object")
    if kind == "instances":
        _check_instance_decisions(decisions, where)
    elif kind == "identities":
        _check_identity_decisions(decisions, where)
    known = {"format", "film", "kind", "version", "submitted", "decided_by", "saved_at", "decisions"}
    return Review(film, kind, version, bool(doc.get("submitted")), str(doc.get("decided_by", "person")),
                  doc.get("saved_at"), decisions, {k: v for k, v in doc.items() if k not in known})


def load_review(storage: Storage, film: str, kind: str) -> Review | None:
    path = review_path(storage, film, kind)
    if not path.exists():
        return None
    return parse_review(path.read_bytes(), str(path), film, kind)


def review_digest(storage: Storage, film: str, kind: str) -> str | None:
    path = review_path(storage, film, kind)
    return hashlib.sha1(path.read_bytes()).hexdigest()[:16] if path.exists() else None


def save_review(storage: Storage, review: Review, expected_version: int) -> Review:
    """Write `review` as version expected+1 if the file is still at `expected_version`.
    The caller serialises saves (one server process per film and kind)."""
    current = load_review(storage, review.film, review.kind)
    current_version = current.version if current else 0
    if current_version != expected_version:
        raise VersionConflict(expected_version, current_version)
    review.version = expected_version + 1
    review.saved_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    storage.write_text(review_path(storage, review.film, review.kind), json.dumps(review.to_json(), indent=1))
    return review


def auto_instance_review(film: str, predicted: dict[str, str]) -> Review:
    """The unattended review: keep what was predicted to be a character."""
    return Review(film, "instances", submitted=True, decided_by="auto",
                  decisions={k: {"keep": c == "character", "category": c} for k, c in predicted.items()})


def auto_identity_review(film: str, face_clusters: dict[str, int]) -> Review:
    """The unattended review: clusters as they are, named character_00, character_01, ..."""
    keys = sorted({c for c in face_clusters.values() if c >= 0})
    return Review(film, "identities", submitted=True, decided_by="auto", decisions={
        "faces": {f: (str(c) if c >= 0 else "noise") for f, c in face_clusters.items()},
        "clusters": {str(c): {"name": f"character_{k:02d}", "character": True} for k, c in enumerate(keys)}})


def write_auto_review(storage: Storage, review: Review) -> int:
    """Save an unattended review over whatever is there (a broken file is replaced); returns its version."""
    try:
        current = load_review(storage, review.film, review.kind)
    except ReviewFileError:
        current = None
        review_path(storage, review.film, review.kind).unlink()
    return save_review(storage, review, current.version if current else 0).version
