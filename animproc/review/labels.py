"""Reviewed-label files: `{root}/{film}/reviews/{kind}.json`, written atomically with a version that grows by
one on every save, so a writer holding an older version is refused instead of silently overwriting."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone

from animproc.errors import AnimprocError
from animproc.review.schema import (FORMAT, INSTANCE_CATEGORIES, KINDS, ReviewFileError,  # noqa: F401 (re-exported)
                                    character_folder, decode_json, validate_review)
from animproc.storage import Storage


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


def review_path(storage: Storage, film: str, kind: str):
    return storage.film_dir(film) / "reviews" / f"{kind}.json"


def parse_review(data: bytes | str, where: str, film: str, kind: str) -> Review:
    """A validated review; a half-written, malformed or hostile file raises ReviewFileError naming the problem
    (and nothing else: see `schema`)."""
    return review_from_document(decode_json(data, where), where, film, kind)


def review_from_document(doc, where: str, film: str, kind: str) -> Review:
    top, decisions, extra = validate_review(doc, where, film, kind)
    return Review(film, kind, top.version, top.submitted, top.decided_by, top.saved_at, decisions, extra)


def load_review(storage: Storage, film: str, kind: str) -> Review | None:
    path = review_path(storage, film, kind)
    if not path.exists():
        return None
    return parse_review(path.read_bytes(), str(path), film, kind)


def review_digest(storage: Storage, film: str, kind: str) -> str | None:
    path = review_path(storage, film, kind)
    return hashlib.sha1(path.read_bytes()).hexdigest()[:16] if path.exists() else None


def save_review(storage: Storage, review: Review, expected_version: int) -> Review:
    """Write `review` as version expected+1 if the file is still at `expected_version`. The check and the write
    are one step under the film's review lock, across processes (two review servers of one film, the CLI's
    auto review), so of two saves from the same version exactly one succeeds."""
    with storage.locked(review.film, f"review-{review.kind}"):
        current = load_review(storage, review.film, review.kind)
        current_version = current.version if current else 0
        if current_version != expected_version:
            raise VersionConflict(expected_version, current_version)
        review.version = expected_version + 1
        review.saved_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        text = json.dumps(review.to_json(), indent=1, allow_nan=False)
        storage.write_text(review_path(storage, review.film, review.kind), text)
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
