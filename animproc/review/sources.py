"""What each review page shows, read from the film's assets."""
from __future__ import annotations

from animproc.catalogue import FilmProducts
from animproc.review.server import NothingToReview, ReviewSource
from animproc.storage import Storage


def _film_relative(film: str, path: str) -> str:
    return path.removeprefix(f"{film}/")


def instances_source(storage: Storage, film: str) -> ReviewSource:
    products = FilmProducts(storage, film)

    def items() -> list[dict]:
        table = products.optional_table("instances")
        if table is None:
            raise NothingToReview(f"{products.folder('instances')}: no instances for film {film!r}; materialise "
                                  "`instances` first")
        return [{"id": r.instance_id, "cutout": _film_relative(film, r.cutout_path),
                 "frame": _film_relative(film, r.overlay_path), "frame_index": int(r.frame_index),
                 "time": round(float(r.time), 3), "shot_id": int(r.shot_id), "category": r.category,
                 "category_score": float(r.category_score), "area": int(r.area)} for r in table.itertuples()]

    return ReviewSource("instances", f"Instances of {film}", items)


def identities_source(storage: Storage, film: str) -> ReviewSource:
    products = FilmProducts(storage, film)

    def items() -> list[dict]:
        faces = products.optional_table("identity_clusters", "faces")
        if faces is None:
            raise NothingToReview(f"{products.folder('identity_clusters')}: no identity clusters for film {film!r}; "
                                  "materialise `identity_clusters` first")
        summary = {c["cluster"]: c for c in products.json("identity_clusters", "clusters")["clusters"]}
        medoids = {c.get("medoid_face") for c in summary.values()}
        return [{"id": r.face_id, "crop": _film_relative(film, r.crop_path),
                 "frame": (f"frames_processed/images/{r.face_id.rsplit('_f', 1)[0]}.jpg"
                           if isinstance(r.instance_id, str) else _film_relative(film, r.crop_path)),
                 "cluster": "noise" if r.cluster < 0 else str(int(r.cluster)), "medoid": r.face_id in medoids,
                 "suggested_name": (summary.get(int(r.cluster)) or {}).get("suggested_name"),
                 "instance_id": r.instance_id, "frame_index": int(r.frame_index)} for r in faces.itertuples()]

    return ReviewSource("identities", f"Identities of {film}", items)
