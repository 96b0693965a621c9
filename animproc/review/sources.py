"""What each review page shows, read from the film's assets."""
from __future__ import annotations

import json

from animproc.review.server import NothingToReview, ReviewSource
from animproc.storage import Storage


def _film_relative(film: str, path: str) -> str:
    return path.removeprefix(f"{film}/")


def _text_or_none(value) -> str | None:
    """A table's text cell for JSON: pandas reads a null string as NaN, which no browser parses."""
    return value if isinstance(value, str) else None


def instances_source(storage: Storage, film: str) -> ReviewSource:
    table_path = storage.asset_dir(film, "instances") / "instances.parquet"

    def items() -> list[dict]:
        if not table_path.exists():
            raise NothingToReview(f"{table_path}: no instances for film {film!r}; materialise `instances` first")
        table = storage.read_parquet(table_path)
        return [{"id": r.instance_id, "cutout": _film_relative(film, r.cutout_path),
                 "frame": _film_relative(film, r.overlay_path), "frame_index": int(r.frame_index),
                 "time": round(float(r.time), 3), "shot_id": int(r.shot_id), "category": r.category,
                 "category_score": float(r.category_score), "area": int(r.area)} for r in table.itertuples()]

    return ReviewSource("instances", f"Instances of {film}", items)


def identities_source(storage: Storage, film: str) -> ReviewSource:
    folder = storage.asset_dir(film, "identity_clusters")

    def items() -> list[dict]:
        if not (folder / "faces.parquet").exists():
            raise NothingToReview(f"{folder}: no identity clusters for film {film!r}; materialise "
                                  "`identity_clusters` first")
        faces = storage.read_parquet(folder / "faces.parquet")
        summary = {c["cluster"]: c for c in json.loads((folder / "clusters.json").read_text())["clusters"]}
        medoids = {c.get("medoid_face") for c in summary.values()}
        return [{"id": r.face_id, "crop": _film_relative(film, r.crop_path),
                 "frame": (f"frames_processed/images/{r.face_id.rsplit('_f', 1)[0]}.jpg"
                           if isinstance(r.instance_id, str) else _film_relative(film, r.crop_path)),
                 "cluster": "noise" if r.cluster < 0 else str(int(r.cluster)), "medoid": r.face_id in medoids,
                 "suggested_name": _text_or_none((summary.get(int(r.cluster)) or {}).get("suggested_name")),
                 "instance_id": _text_or_none(r.instance_id), "frame_index": int(r.frame_index)}
                for r in faces.itertuples()]

    return ReviewSource("identities", f"Identities of {film}", items)
