"""What each review page shows, read from the film's assets. Every value is plain JSON (no NaN): a browser's
JSON.parse refuses NaN, and pandas reads a null text cell as NaN."""
from __future__ import annotations

import math
from itertools import groupby

import numpy as np
import pandas as pd

from animproc.catalogue import FilmProducts
from animproc.image.boxes import box_iou
from animproc.review.server import NothingToReview, ReviewSource
from animproc.storage import Storage


def _film_relative(film: str, path: str) -> str:
    return path.removeprefix(f"{film}/")


def _text_or_none(value) -> str | None:
    """A table's text cell for JSON: pandas reads a null string as NaN, which no browser parses."""
    return value if isinstance(value, str) else None


def _finite(value, digits: int = 4) -> float | None:
    value = float(value)
    return round(value, digits) if math.isfinite(value) else None


def _track_neighbours(ids: list[str], tracks: np.ndarray, frames: np.ndarray) -> tuple[list, list]:
    """For each item, the previous and next item of its track (in frame order), or None: the lightbox's
    neighbours a key away."""
    order = sorted(range(len(ids)), key=lambda k: (tracks[k], frames[k]))
    prev, nxt = [None] * len(ids), [None] * len(ids)
    for a, b in zip(order, order[1:]):
        if tracks[a] == tracks[b]:
            nxt[a], prev[b] = ids[b], ids[a]
    return prev, nxt


def _linked_boxes(shots: np.ndarray, frames: np.ndarray, boxes: np.ndarray, min_iou: float = 0.3) -> tuple[list, list]:
    """Previous and next position of each box in its track: boxes of one shot in consecutive sampled frames are
    linked greedily by IoU (highest first), one to one, as faces are linked into tracks."""
    prev, nxt = [None] * len(boxes), [None] * len(boxes)
    order = np.lexsort((frames, shots))
    groups = [list(g) for _, g in groupby(order, key=lambda k: (shots[k], frames[k]))]
    for a, b in zip(groups, groups[1:]):
        if shots[a[0]] != shots[b[0]]:
            continue
        pairs = sorted(((box_iou(boxes[i], boxes[j]), i, j) for i in a for j in b), reverse=True)
        for iou, i, j in pairs:
            if iou >= min_iou and nxt[i] is None and prev[j] is None:
                nxt[i], prev[j] = j, i
    return prev, nxt


def instance_items(film: str, table: pd.DataFrame) -> list[dict]:
    """One item per instance, with its box in the source frame and its neighbours in the same track (instances
    linked by box overlap across a shot's sampled frames)."""
    x, y, w, h = (table[c].to_numpy(float) for c in ("bbox_x", "bbox_y", "bbox_w", "bbox_h"))
    prev, nxt = _linked_boxes(table["shot_id"].to_numpy(), table["frame_index"].to_numpy(),
                              np.stack([x, y, x + w, y + h], axis=1) if len(table) else np.zeros((0, 4)))
    ids = list(table["instance_id"])
    return [{"id": r.instance_id, "cutout": _film_relative(film, r.cutout_path),
             "frame": _film_relative(film, r.overlay_path), "frame_index": int(r.frame_index),
             "time": _finite(r.time, 3), "shot_id": int(r.shot_id), "category": r.category,
             "category_score": _finite(r.category_score) or 0.0, "area": int(r.area),
             "box": [int(r.bbox_x), int(r.bbox_y), int(r.bbox_w), int(r.bbox_h)], "frame_width": int(r.mask_width),
             "prev": None if prev[k] is None else ids[prev[k]], "next": None if nxt[k] is None else ids[nxt[k]]}
            for k, r in enumerate(table.itertuples())]


def instances_source(storage: Storage, film: str) -> ReviewSource:
    products = FilmProducts(storage, film)

    def items() -> list[dict]:
        table = products.optional_table("instances", "instances")
        if table is None:
            raise NothingToReview(f"{products.folder('instances')}: no instances for film {film!r}; materialise "
                                  "`instances` first")
        return instance_items(film, table)

    return ReviewSource("instances", f"Instances of {film}", items)


def _medoid_distances(faces: pd.DataFrame, embeddings: dict[str, np.ndarray], medoids: dict[int, str]) -> list:
    """Each face's cosine distance to its cluster's medoid (a noise face: to the nearest medoid), so the page
    can show the outliers, where the mistakes are, first. Without embeddings, 1 - the cluster probability."""
    if not embeddings or not medoids:
        return [_finite(1.0 - p) if p is not None else None for p in faces.get("probability", [None] * len(faces))]
    centres = {c: embeddings[f] / (np.linalg.norm(embeddings[f]) or 1.0) for c, f in medoids.items() if f in embeddings}
    out = []
    for r in faces.itertuples():
        e = embeddings.get(r.face_id)
        if e is None or not centres:
            out.append(None)
            continue
        e = e / (np.linalg.norm(e) or 1.0)
        own = centres.get(int(r.cluster))
        out.append(_finite(1.0 - float(e @ own)) if own is not None
                   else _finite(min(1.0 - float(e @ c) for c in centres.values())))
    return out


def _face_embeddings(products: FilmProducts) -> dict[str, np.ndarray]:
    table = products.optional_table("faces", "faces")
    if table is None or "embedding" not in table:
        return {}
    return {f: np.asarray(e, np.float32) for f, e in zip(table["face_id"], table["embedding"]) if e is not None}


def identity_items(film: str, faces: pd.DataFrame, summary: dict[int, dict],
                   embeddings: dict[str, np.ndarray]) -> list[dict]:
    medoids = {c: s["medoid_face"] for c, s in summary.items() if s.get("medoid_face")}
    distances = _medoid_distances(faces, embeddings, medoids)
    tracks = faces["track_id"].to_numpy() if "track_id" in faces else np.arange(len(faces))
    prev, nxt = _track_neighbours(list(faces["face_id"]), tracks, faces["frame_index"].to_numpy())
    items = []
    for k, r in enumerate(faces.itertuples()):
        owned = isinstance(r.instance_id, str)
        items.append({
            "id": r.face_id, "crop": _film_relative(film, r.crop_path),
            "frame": (f"frames_processed/images/{r.face_id.rsplit('_f', 1)[0]}.jpg" if owned
                      else _film_relative(film, r.crop_path)),
            "cluster": "noise" if r.cluster < 0 else str(int(r.cluster)), "medoid": r.face_id in medoids.values(),
            "suggested_name": _text_or_none((summary.get(int(r.cluster)) or {}).get("suggested_name")),
            "instance_id": _text_or_none(r.instance_id), "frame_index": int(r.frame_index),
            "time": _finite(getattr(r, "time", math.nan), 3), "shot_id": int(getattr(r, "shot_id", 0)),
            "box": [_finite(getattr(r, c, math.nan), 1) for c in ("x0", "y0", "x1", "y1")] if owned else None,
            "distance": distances[k], "track": int(tracks[k]), "prev": prev[k], "next": nxt[k]})
    return items


def identities_source(storage: Storage, film: str) -> ReviewSource:
    products = FilmProducts(storage, film)

    def items() -> list[dict]:
        faces = products.optional_table("identity_clusters", "faces")
        if faces is None:
            raise NothingToReview(f"{products.folder('identity_clusters')}: no identity clusters for film {film!r}; "
                                  "materialise `identity_clusters` first")
        summary = {c["cluster"]: c for c in products.json("identity_clusters", "clusters")["clusters"]}
        return identity_items(film, faces, summary, _face_embeddings(products))

    return ReviewSource("identities", f"Identities of {film}", items,
                        sections={"instances": lambda: unnamed_instance_items(products)},
                        actions={"few_shot": lambda body: few_shot_suggestions(products, body)},
                        context=lambda: identity_voices(products))


def few_shot_suggestions(products: FilmProducts, body: dict) -> dict:
    """The few-shot path: `body["examples"]` (face id -> cluster key, the faces of the clusters the curator
    named) names the others by similarity to each cluster's examples (the embeddings as they are: centred
    on the film, they named fewer faces right on every labelled clip, bench/cg_identities.py); answers face
    id -> [cluster key, confidence] for every face that is not an example."""
    from animproc.identity.cluster import assign_by_examples
    from animproc.review.schema import ReviewFileError

    examples = body.get("examples")
    if not isinstance(examples, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                 for k, v in examples.items()):
        raise ReviewFileError("request", "'examples' must map face ids to cluster keys")
    embeddings = _face_embeddings(products)
    ids = sorted(embeddings)
    unknown = sorted(set(examples) - set(ids))
    if unknown:
        raise ReviewFileError("request", f"unknown face ids: {unknown[:5]}")
    if not ids or not examples:
        return {"suggestions": {}}
    row = {f: i for i, f in enumerate(ids)}
    vectors = np.stack([embeddings[f] for f in ids])
    names, confidence = assign_by_examples(vectors, {row[f]: k for f, k in examples.items()})
    return {"suggestions": {f: [names[i], _finite(confidence[i], 3)] for i, f in enumerate(ids) if f not in examples}}


def unnamed_instance_items(products: FilmProducts) -> list[dict]:
    """The kept instances no face names, for the reviewer to assign to a character: with the cluster its
    motion track (or costume) suggests. After a `character_instances` run, its carried names are the
    suggestions; before, the track's face-named instances' clusters are (computed here the same way)."""
    from animproc.identity.carry import Named, track_names

    film = products.film
    carried = products.optional_table("character_instances")
    kept = products.optional_table("instances_inpainted")
    clusters = products.optional_table("identity_clusters", "instances")
    if kept is None or clusters is None:
        return []
    by_face = {str(i): str(int(c)) for i, c in zip(clusters["instance_id"], clusters["cluster"]) if int(c) >= 0}
    if carried is not None:
        suggested = {r.instance_id: (r.cluster if isinstance(r.cluster, str) else None, r.name_source,
                                     _finite(r.confidence)) for r in carried.itertuples() if r.name_source != "face"}
    else:
        tracks = products.optional_table("motion", "tracks")
        named = {i: Named(c, c, 1.0, "face", "") for i, c in by_face.items()}
        found = track_names(tracks, named, set()) if tracks is not None and len(tracks) else {}
        suggested = {i: (n.cluster, n.source, n.confidence) for i, n in found.items()}
    items = []
    for r in kept.itertuples():
        if r.instance_id in by_face and r.instance_id not in suggested:
            continue
        cluster, source, confidence = suggested.get(r.instance_id, (None, "none", None))
        items.append({"id": r.instance_id, "cutout": _film_relative(film, r.cutout_path),
                      "frame_index": int(r.frame_index), "shot_id": int(r.shot_id),
                      "time": _finite(getattr(r, "time", math.nan), 3), "suggested": cluster,
                      "suggested_by": source, "confidence": confidence})
    return items


def identity_voices(products: FilmProducts) -> dict:
    """The voices panel of the identity page: each diarized speaker with the character `character_voices`
    mapped it to, why, and its voice clips (paths under the film folder), and the characters to choose from.
    Empty before `character_voices` exists."""
    mapping = products.optional_table("character_voices", "mapping")
    if mapping is None:
        return {"speakers": [], "characters": []}
    clips = products.table("character_voices", "clips")
    turns = products.table("character_voices", "turns")
    speaker_of = dict(zip(turns["turn_id"], turns["speaker"]))
    folder = "character_voices"
    speakers = []
    for r in mapping.itertuples():
        own = clips[clips["turn_id"].map(speaker_of) == r.speaker]
        speakers.append({"speaker": r.speaker, "character": _text_or_none(r.character),
                         "sample": f"diarization/voice_samples/{r.speaker}.wav",
                         "confidence": _finite(r.confidence) or 0.0, "reason": _text_or_none(r.reason),
                         "clips": [{"path": f"{folder}/{c.path}", "start": _finite(c.start, 2),
                                    "end": _finite(c.end, 2)} for c in own.itertuples()]})
    index = products.optional_table("characters", "index")
    names = sorted(set(index["character"]) if index is not None else set())
    return {"speakers": speakers, "characters": names}
