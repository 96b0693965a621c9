"""Character identities, partitioned by film: faces -> identity_clusters -> (review gate: identity_review)
-> characters -> pose_subclusters."""
import json
import time
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from dagster import AssetExecutionContext, AssetSpec, Failure, MaterializeResult, MetadataValue, asset

from animproc.errors import AnimprocError
from animproc.identity.cluster import NOISE, cluster_tracks, nearest_medoid
from animproc.identity.tracks import clustering_vectors, costume_histogram, link_tracks
from animproc.image.masks import decode_rle
from animproc.video.decode import read_frames
from animproc.image.preview import contact_sheet, encode_image, figure_png, markdown_image, on_checkerboard, read_image
from animproc.library import source_path
from animproc.review.labels import auto_identity_review, load_review, write_auto_review
from animproc.video.shots import shot_position
from assets import fail
from assets.versioning import content_versioned
from partitions import film_partitions
from resources.face_analyzer import FaceAnalyzerResource
from resources.film_config import FilmConfigResource
from resources.placement import step_pool, step_tags
from resources.storage import StorageResource

GROUP = "identities"
FACE_COLUMNS = ["face_id", "film", "frame_index", "time", "shot_id", "instance_id", "x0", "y0", "x1", "y1",
                "landmarks", "score", "size", "sharpness", "excluded", "crop_path", "embedding"]


def _kept_instances(st, film: str) -> pd.DataFrame:
    for name in ("instances_inpainted", "instances_filtered"):
        path = st.asset_dir(film, name) / "instances.parquet"
        if path.exists():
            return st.read_parquet(path)
    raise Failure(description=f"film {film!r} has no reviewed instances: materialise instances_filtered first")


def _owner(face_box, masks: list[tuple[str, np.ndarray]]) -> str | None:
    cx, cy = int((face_box[0] + face_box[2]) / 2), int((face_box[1] + face_box[3]) / 2)
    hits = [(int(m.sum()), iid) for iid, m in masks if 0 <= cy < m.shape[0] and 0 <= cx < m.shape[1] and m[cy, cx]]
    return min(hits)[1] if hits else None  # the smallest mask holding the face centre is its nearest body


@asset(partitions_def=film_partitions, group_name=GROUP, code_version="1", kinds={"parquet", "jpeg"},
       op_tags=step_tags("faces"), pool=step_pool("faces"),
       deps=["frames_processed", "instances_filtered", "instances_inpainted", "shots"],
       description="Every face in the kept frames and in a frame every `face_interval_seconds`: box, 5 "
                   "landmarks, detection score, aligned 112x112 crop, L2-normalised embedding, size and "
                   "sharpness, and the reviewed character instance it belongs "
                   "to (none when no kept instance holds it). Faces too small or blurred stay in the table with "
                   "the reason and are left out of clustering.")
@content_versioned
def faces(context: AssetExecutionContext, storage: StorageResource, film_config: FilmConfigResource,
          face_analyzer: FaceAnalyzerResource) -> MaterializeResult:
    film = context.partition_key
    st = storage.storage()
    config, _ = film_config.load(film)
    c = config.identities
    try:
        analyzer = face_analyzer.model(config)
    except AnimprocError as exc:
        raise fail(exc) from None
    frames = st.read_parquet(st.asset_dir(film, "frames_processed") / "manifest.parquet")
    frames = frames[frames["kept"]]
    kept = _kept_instances(st, film)
    shots = st.read_parquet(st.asset_dir(film, "shots") / "shots.parquet")
    started = time.perf_counter()
    rows = []
    with st.publish_dir(film, "faces") as out:
        for index, time_s, shot_id, image in _face_frames(st, film, frames, shots, c.face_interval_seconds):
            inst = kept[kept["frame_index"] == index]
            masks = [(r.instance_id, decode_rle({"size": [r.mask_height, r.mask_width], "counts": r.mask_rle}))
                     for r in inst.itertuples()]
            for k, f in enumerate(analyzer(image)):
                face_id = f"{index:07d}_f{k:02d}"
                excluded = None
                if f.size < c.min_face_size:
                    excluded = f"too small ({f.size:.1f} px between the eyes < {c.min_face_size})"
                elif f.sharpness < c.min_face_sharpness:
                    excluded = f"too blurred (sharpness {f.sharpness:.1f} < {c.min_face_sharpness})"
                st.write_bytes(out / "crops" / f"{face_id}.jpg", encode_image(f.crop, ".jpg", 92))
                rows.append({"face_id": face_id, "film": film, "frame_index": int(index),
                             "time": float(time_s), "shot_id": int(shot_id),
                             "instance_id": _owner(f.box, masks), "x0": f.box[0], "y0": f.box[1], "x1": f.box[2],
                             "y1": f.box[3], "landmarks": f.landmarks.reshape(-1).tolist(), "score": f.score,
                             "size": f.size, "sharpness": f.sharpness, "excluded": excluded,
                             "crop_path": f"{film}/faces/crops/{face_id}.jpg", "embedding": f.embedding.tolist()})
        table = pd.DataFrame(rows, columns=FACE_COLUMNS)
        st.write_parquet(out / "faces.parquet", table)
    usable = table[table["excluded"].isna()]
    sheet = contact_sheet([read_image(st.resolve(p)) for p in usable["crop_path"][:36]], thumb_width=72, columns=12) \
        if len(usable) else None
    return MaterializeResult(metadata={
        "faces": len(table), "usable": len(usable), "analyzer": analyzer.name,
        "in_kept_instances": int(table["instance_id"].notna().sum()),
        "excluded": MetadataValue.json(dict(Counter(r.split(" (")[0] for r in table["excluded"].dropna()))),
        "frames": int(table["frame_index"].nunique()) if len(table) else 0, "kept_frames": len(frames),
        "face_interval_seconds": c.face_interval_seconds, "seconds": round(time.perf_counter() - started, 2),
        "crops": MetadataValue.md(markdown_image(encode_image(sheet), alt="faces") if sheet is not None
                                  else "no faces"),
    })


def _face_frames(st, film: str, frames: pd.DataFrame, shots: pd.DataFrame, interval: float | None):
    """The kept frames (from their images), then, when `interval` is set, a frame every `interval` seconds of
    the film decoded from the source in one pass: (frame index, time, shot id, BGR image)."""
    for frame in frames.itertuples():
        yield int(frame.frame_index), float(frame.time), int(frame.shot_id), read_image(st.resolve(frame.path))
    if not interval or shots.empty:
        return
    probe = json.loads((st.asset_dir(film, "source_video") / "probe.json").read_text())
    fps = float(probe.get("fps") or 24.0)
    step = max(1, round(interval * fps))
    last = int(shots["end_frame"].max())
    wanted = sorted(set(range(0, last + 1, step)) - set(frames["frame_index"].astype(int)))
    starts, ids = shots["start_frame"].to_numpy(), shots["shot_id"].to_numpy()
    with st.local_copy(source_path(st, film)) as local:
        for index, image in read_frames(local, wanted):
            k = shot_position(starts, index)
            yield index, index / fps, int(ids[k]), image


def _projection_plot(vectors: np.ndarray, labels: np.ndarray) -> tuple[bytes, str]:
    """2-D UMAP of the faces coloured by cluster (PCA when there are too few faces for UMAP); at most 5000
    faces, drawn at random, so the plot costs the same for any film."""
    if len(vectors) > 5000:
        pick = np.random.default_rng(0).choice(len(vectors), 5000, replace=False)
        vectors, labels = vectors[pick], labels[pick]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if len(vectors) >= 15:
        import umap  # slow to import (~10 s): only here

        xy = umap.UMAP(n_neighbors=min(15, len(vectors) - 1), metric="cosine", random_state=0).fit_transform(vectors)
        method = "UMAP"
    else:
        from sklearn.decomposition import PCA

        xy = PCA(2).fit_transform(vectors) if len(vectors) >= 2 else np.zeros((len(vectors), 2))
        method = "PCA"
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.scatter(xy[:, 0], xy[:, 1], c=labels, cmap="tab20", s=12)
    ax.set_title(f"faces ({method}), coloured by cluster; noise = -1", fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
    return figure_png(fig), method


@asset(partitions_def=film_partitions, group_name=GROUP, code_version="1", deps=["faces"], kinds={"parquet", "jpeg"},
       op_tags=step_tags("identity_clusters"), pool=step_pool("identity_clusters"),
       description="Faces grouped into identities: faces linked into tracks within shots, HDBSCAN on one point "
                   "per track (its mean embedding, optionally joined with its instances' costume colours; min "
                   "cluster size from the film config), noise kept as its own bucket; every kept instance assigned through its face. "
                   "Per cluster: size, medoid, contact sheet, intra-cluster similarity, suggested name.")
@content_versioned
def identity_clusters(context: AssetExecutionContext, storage: StorageResource, film_config: FilmConfigResource,
                      face_analyzer: FaceAnalyzerResource) -> MaterializeResult:
    film = context.partition_key
    st = storage.storage()
    config, config_path = film_config.load(film)
    c = config.identities
    table = st.read_parquet(st.asset_dir(film, "faces") / "faces.parquet")
    usable = table[table["excluded"].isna()].reset_index(drop=True)
    kept = _kept_instances(st, film).set_index("instance_id")
    started = time.perf_counter()
    emb = np.array(usable["embedding"].tolist(), np.float32) if len(usable) else np.zeros((0, 1), np.float32)
    tracks = link_tracks(usable) if len(usable) else np.zeros(0, int)
    costumes = {}
    if c.body_weight > 0:  # off by default: only then are the cutouts read, once per instance
        costumes = {iid: costume_histogram(read_image(st.resolve(kept.loc[iid, "cutout_path"]), cv2.IMREAD_UNCHANGED))
                    for iid in set(usable["instance_id"].dropna()) if iid in kept.index}
    bodies = [costumes.get(iid) for iid in usable["instance_id"]]
    vectors = clustering_vectors(emb, tracks, bodies, c.body_weight) if len(usable) else emb
    result = cluster_tracks(vectors, tracks, c.min_cluster_size, c.min_samples, c.selection_method,
                            c.reduce_dimensions, c.cluster_selection_epsilon)
    names = _suggest_names(config, config_path, face_analyzer, emb, result)
    usable["track_id"] = tracks
    usable["cluster"] = result.labels
    usable["probability"] = result.probabilities
    summary = []
    with st.publish_dir(film, "identity_clusters") as out:
        medoid_images, medoid_labels = [], []
        for cl in [*result.clusters, NOISE]:
            members = usable[usable["cluster"] == cl]
            if members.empty:
                continue
            crops = [read_image(st.resolve(p)) for p in members["crop_path"][:48]]
            st.write_bytes(out / "sheets" / f"cluster_{cl}.jpg", encode_image(contact_sheet(crops, thumb_width=72,
                                                                                          columns=12)))
            entry = {"cluster": int(cl), "size": len(members), "tracks": int(members["track_id"].nunique()),
                     "instances": int(members["instance_id"].nunique()),
                     "sheet": f"{film}/identity_clusters/sheets/cluster_{cl}.jpg"}
            if cl != NOISE:
                m = result.medoids[cl]
                entry.update({"medoid_face": usable.loc[m, "face_id"],
                              "intra_similarity": round(result.intra_similarity[cl], 4),
                              "suggested_name": names.get(cl)})
                medoid_images.append(read_image(st.resolve(usable.loc[m, "crop_path"])))
                medoid_labels.append(f"{cl}: {names.get(cl) or ''} ({len(members)})")
            summary.append(entry)
        assignment = (usable[usable["instance_id"].notna() & (usable["cluster"] != NOISE)]
                      .groupby("instance_id")["cluster"].agg(lambda s: int(s.value_counts().index[0])))
        instances = pd.DataFrame({"instance_id": kept.index})
        instances["cluster"] = [int(assignment.get(i, NOISE)) for i in instances["instance_id"]]
        st.write_parquet(out / "faces.parquet", usable.drop(columns=["embedding"]))
        st.write_parquet(out / "instances.parquet", instances)
        st.write_text(out / "clusters.json", json.dumps({"film": film, "clusters": summary,
                                                         "reduced_to": result.reduced_to}, indent=1))
    review_version = (write_auto_review(st, auto_identity_review(film, dict(zip(usable["face_id"],
                                                                                 usable["cluster"].astype(int)))))
                      if config.review == "auto" else None)
    plot, method = _projection_plot(vectors, result.labels) if len(usable) else (None, None)
    grid = contact_sheet(medoid_images, medoid_labels, thumb_width=96) if medoid_images else None
    return MaterializeResult(metadata={
        "clusters": len(result.clusters), "faces": len(usable), "noise": int((result.labels == NOISE).sum()),
        "tracks": int(len(np.unique(tracks))), "min_cluster_size": c.min_cluster_size,
        "instances_assigned": int((instances["cluster"] != NOISE).sum()), "instances": len(instances),
        "sizes": MetadataValue.json({str(e["cluster"]): e["size"] for e in summary}),
        "suggested_names": MetadataValue.json({str(k): v for k, v in names.items()}),
        "medoids": MetadataValue.md(markdown_image(encode_image(grid), alt="medoids") if grid is not None
                                    else "no clusters"),
        "projection": MetadataValue.md(markdown_image(plot, "image/png", method) if plot else "no faces"),
        "review": config.review if review_version is None else f"auto (review version {review_version})",
        "seconds": round(time.perf_counter() - started, 2),
    })


def _suggest_names(config, config_path, face_analyzer, emb, result) -> dict[int, str]:
    """Character names from the film config, each given to the cluster whose medoid is nearest its reference
    image (configs name the image relative to the config file)."""
    refs = [ch for ch in config.characters if ch.reference_image]
    if not refs or not result.medoids:
        return {}
    analyzer = face_analyzer.model(config)
    names: dict[int, tuple[str, float]] = {}
    for ch in refs:
        path = Path(ch.reference_image)
        if not path.is_absolute() and config_path:
            path = Path(config_path).parent / path
        image = cv2.imread(str(path))
        found = analyzer(image) if image is not None else []
        if not found:
            continue
        best = max(found, key=lambda f: f.size)
        hit = nearest_medoid(best.embedding, emb, result)
        if hit and (hit[0] not in names or hit[1] > names[hit[0]][1]):
            names[hit[0]] = (ch.name, hit[1])
    return {k: v[0] for k, v in names.items()}


identity_review = AssetSpec(
    "identity_review", partitions_def=film_partitions, group_name=GROUP, code_version="1",
    deps=["identity_clusters"],
    description="The person's (or auto mode's) naming, merging, splitting and moving of a film's identity "
                "clusters: `{root}/{film}/reviews/identities.json`, written by `animproc review identities NAME`.")


def _decision(review, face_id: str, original: str, key: str, name: str) -> str:
    if review.decided_by == "auto":
        return f"auto: cluster {original} as {name}"
    if key != original:
        return f"moved by a person from cluster {original} to {key} ({name})"
    return f"cluster {key} named {name!r} in review" if not name.startswith("character_") else f"cluster {key} kept"


@asset(partitions_def=film_partitions, group_name=GROUP, code_version="1", deps=["identity_clusters", "identity_review"],
       op_tags=step_tags("characters"), pool=step_pool("characters"),
       kinds={"parquet", "png"},
       description="One folder per named character with its instances (RGBA) and face crops, and a Parquet index "
                   "with the review decision that put each there. Noise and clusters marked not-a-character are "
                   "left out; an instance goes to the character most of its faces belong to.")
@content_versioned
def characters(context: AssetExecutionContext, storage: StorageResource,
               film_config: FilmConfigResource) -> MaterializeResult:
    film = context.partition_key
    st = storage.storage()
    config, _ = film_config.load(film)
    faces = st.read_parquet(st.asset_dir(film, "identity_clusters") / "faces.parquet")
    original = {f: ("noise" if c < 0 else str(int(c))) for f, c in zip(faces["face_id"], faces["cluster"])}
    try:
        review = load_review(st, film, "identities")
    except AnimprocError as exc:
        raise fail(exc) from None
    if review is None or not review.submitted:
        if config.review != "auto":
            raise Failure(description=f"the identities of film {film!r} are not reviewed yet: run "
                                      f"`animproc review identities {film}` and finish the review", allow_retries=False)
        review = auto_identity_review(film, dict(zip(faces["face_id"], faces["cluster"].astype(int))))
    final = {f: review.decisions["faces"].get(f, original[f]) for f in faces["face_id"]}
    clusters = review.decisions["clusters"]
    names = {k: (c.get("name") or f"character_{k}").strip() for k, c in clusters.items() if c.get("character", True)}
    kept = _kept_instances(st, film).set_index("instance_id")
    rows = []
    with st.publish_dir(film, "characters") as out:
        by_instance: dict[str, list[str]] = {}
        for r in faces.itertuples():
            key = final[r.face_id]
            if key not in names:
                continue
            name = names[key]
            st.copy(st.resolve(r.crop_path), out / name / "faces" / f"{r.face_id}.jpg")
            rows.append({"character": name, "kind": "face", "id": r.face_id, "cluster": key,
                         "path": f"{film}/characters/{name}/faces/{r.face_id}.jpg",
                         "decision": _decision(review, r.face_id, original[r.face_id], key, name)})
            if isinstance(r.instance_id, str) and r.instance_id in kept.index:
                by_instance.setdefault(r.instance_id, []).append(key)
        for iid, keys in sorted(by_instance.items()):
            key = Counter(keys).most_common(1)[0][0]
            name = names[key]
            st.copy(st.resolve(kept.loc[iid, "cutout_path"]), out / name / "instances" / f"{iid}.png")
            rows.append({"character": name, "kind": "instance", "id": iid, "cluster": key,
                         "path": f"{film}/characters/{name}/instances/{iid}.png",
                         "decision": f"{len(keys)} of its faces in cluster {key}"})
        index = pd.DataFrame(rows, columns=["character", "kind", "id", "cluster", "path", "decision"])
        st.write_parquet(out / "index.parquet", index)
    per = index.groupby(["character", "kind"]).size().unstack(fill_value=0) if len(index) else pd.DataFrame()
    return MaterializeResult(metadata={
        "characters": int(index["character"].nunique()) if len(index) else 0,
        "per_character": MetadataValue.json({c: {k: int(v) for k, v in row.items()} for c, row in per.iterrows()}),
        "review_version": review.version, "decided_by": review.decided_by,
        "left_out_faces": int(sum(1 for f in faces["face_id"] if final[f] not in names)),
    })


@asset(partitions_def=film_partitions, group_name=GROUP, code_version="1", deps=["characters"], kinds={"parquet", "jpeg"},
       op_tags=step_tags("pose_subclusters"), pool=step_pool("pose_subclusters"),
       description="Per character: each instance's viewing angle (front / three-quarter / profile from the face "
                   "landmarks; back or unknown without a face), sub-clusters inside each bucket (UMAP + HDBSCAN "
                   "on silhouette and costume), bucket counts, a balanced sample of the configured size, and a "
                   "contact sheet per bucket.")
@content_versioned
def pose_subclusters(context: AssetExecutionContext, storage: StorageResource,
                     film_config: FilmConfigResource) -> MaterializeResult:
    from animproc.identity.poses import appearance_vector, balanced_sample, bucket_of, subclusters

    film = context.partition_key
    st = storage.storage()
    config, _ = film_config.load(film)
    p = config.poses
    index = st.read_parquet(st.asset_dir(film, "characters") / "index.parquet")
    faces = st.read_parquet(st.asset_dir(film, "identity_clusters") / "faces.parquet").set_index("face_id")
    face_of = {}
    for r in faces.itertuples():
        if isinstance(r.instance_id, str):
            face_of.setdefault(r.instance_id, r)
    rows, summary = [], {}
    with st.publish_dir(film, "pose_subclusters") as out:
        for name, group in index[index["kind"] == "instance"].groupby("character"):
            images, buckets, ratios, quality = [], [], [], []
            for r in group.itertuples():
                rgba = read_image(st.resolve(r.path), cv2.IMREAD_UNCHANGED)
                face = face_of.get(r.id)
                bucket, ratio = bucket_of(list(face.landmarks) if face is not None else None,
                                          (face.x1 - face.x0) if face is not None else None, rgba.shape[0],
                                          p.front_max, p.profile_min, p.back_min_height)
                images.append(rgba)
                buckets.append(bucket)
                ratios.append(ratio)
                quality.append(float((rgba[..., 3] > 127).sum()))
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
                sheet = contact_sheet([on_checkerboard(images[i]) for i in idx],
                                      [f"g{groups[i]}" for i in idx], thumb_width=96)
                st.write_bytes(out / name / f"{b}.jpg", encode_image(sheet))
            summary[name] = {"buckets": dict(Counter(buckets)), "sample": [group.iloc[i]["id"] for i in sorted(sample)]}
        table = pd.DataFrame(rows, columns=["character", "instance_id", "bucket", "yaw_ratio", "subcluster",
                                            "in_sample", "path"])
        st.write_parquet(out / "poses.parquet", table)
        st.write_text(out / "summary.json", json.dumps(summary, indent=1))
    return MaterializeResult(metadata={
        "characters": len(summary), "instances": len(table), "sample_size": p.sample_size,
        "buckets": MetadataValue.json({n: s["buckets"] for n, s in summary.items()}),
    })
