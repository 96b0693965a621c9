"""What each review page shows, read from the film's assets."""
from __future__ import annotations

from animproc.errors import AnimprocError
from animproc.review.server import ReviewSource
from animproc.storage import Storage


class NothingToReview(AnimprocError):
    pass


def _film_relative(film: str, path: str) -> str:
    return path.removeprefix(f"{film}/")


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
