"""Face analysis and identity clustering on a plain folder of images, and its evaluation against a labelled
reference, so any labelled photo set can measure the identity stage."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from animproc.errors import ConfigError
from animproc.identity.cluster import cluster_embeddings
from animproc.identity.evaluate import identity_scores
from animproc.models import FaceAnalyzer

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}


def cluster_images(folder: Path, analyzer: FaceAnalyzer, min_cluster_size: int, min_samples: int | None = None,
                   method: str = "eom", reduce_to: int | None = 32, epsilon: float = 0.0) -> dict:
    """{"images": {relative path: [{"face", "box", "score", "cluster"}]}, "clusters": {...}, "unreadable": [...]}."""
    folder = Path(folder)
    faces, keys, unreadable, images = [], [], [], {}
    for path in sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES):
        rel = path.relative_to(folder).as_posix()
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            unreadable.append(rel)
            continue
        images[rel] = []
        for k, f in enumerate(analyzer(image)):
            faces.append(f)
            keys.append((rel, k))
            images[rel].append({"face": k, "box": [round(v, 1) for v in f.box], "score": round(f.score, 3),
                                "size": round(f.size, 1)})
    emb = np.stack([f.embedding for f in faces]) if faces else np.zeros((0, analyzer.dim), np.float32)
    result = cluster_embeddings(emb, min_cluster_size, min_samples, method, reduce_to, epsilon)
    for (rel, k), label in zip(keys, result.labels):
        images[rel][k]["cluster"] = int(label)
    clusters = {str(c): {"size": int((result.labels == c).sum()), "medoid": f"{keys[m][0]}#{keys[m][1]}",
                         "intra_similarity": round(result.intra_similarity[c], 4)} for c, m in result.medoids.items()}
    return {"analyzer": analyzer.name, "min_cluster_size": min_cluster_size, "reduced_to": result.reduced_to,
            "faces": len(faces), "images": images, "clusters": clusters, "unreadable": unreadable}


def load_reference(path: Path) -> dict[str, str | list[str]]:
    """Reference labels by relative image path. Either a flat {"path or file name": "label"} object or the
    layout {"identities": {label: [files in folder label/]}, "multi_face_scenes": {file: [labels]}}."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(path, [f"cannot read the reference ({exc})"]) from None
    if not isinstance(data, dict):
        raise ConfigError(path, ["the reference must be a JSON object"])
    if "identities" not in data:
        if not all(isinstance(v, str) for v in data.values()):
            raise ConfigError(path, ["a flat reference maps each image or instance name to one label string"])
        return dict(data)
    ref: dict[str, str | list[str]] = {}
    for label, files in data["identities"].items():
        for f in files:
            ref[f"{label}/{f}"] = label
    for f, labels in data.get("multi_face_scenes", {}).items():
        if isinstance(labels, list):
            ref[f"_multi_face_scenes/{f}"] = labels
    return ref


def score_assignment(assignment: dict, reference: dict[str, str | list[str]]) -> dict:
    """Single-label images: their largest face carries the label. Multi-face images (a list of labels): each
    listed person should have a face there in that person's cluster (the cluster their own photos chose)."""
    def find(rel: str):
        if rel in assignment["images"]:
            return assignment["images"][rel]
        hits = [k for k in assignment["images"] if Path(k).name == rel]
        return assignment["images"][hits[0]] if len(hits) == 1 else None

    predicted, truth, missing = [], [], []
    for rel, label in reference.items():
        if isinstance(label, list):
            continue
        faces = find(rel)
        if not faces:
            missing.append(rel)
            continue
        largest = max(faces, key=lambda f: f["size"])
        predicted.append(largest["cluster"])
        truth.append(label)
    scores = identity_scores(predicted, truth)
    by_label: dict[str, list[int]] = {}
    for p, t in zip(predicted, truth):
        by_label.setdefault(t, []).append(p)
    majority = {t: max(set(ps), key=ps.count) for t, ps in by_label.items()}
    scenes = {}
    for rel, labels in reference.items():
        if isinstance(labels, list):
            faces = find(rel) or []
            clusters = {f["cluster"] for f in faces}
            scenes[rel] = {t: (majority.get(t, -1) != -1 and majority.get(t) in clusters) for t in labels}
    scores.update({"missing_images": missing, "multi_face_scenes": scenes})
    return scores


def film_assignment(storage, film: str) -> dict:
    """A film's identity clusters in the shape `score_assignment` reads: frame image names (their faces) and
    instance cutout names (the instance's cluster) as keys."""
    from animproc.catalogue import FilmProducts

    products = FilmProducts(storage, film)
    faces, instances = products.table("identity_clusters", "faces"), products.table("identity_clusters", "instances")
    images: dict[str, list[dict]] = {}
    for r in faces.itertuples():
        images.setdefault(f"{r.face_id.rsplit('_f', 1)[0]}.jpg", []).append(
            {"face": r.face_id, "size": float(r.size), "cluster": int(r.cluster)})
    for r in instances.itertuples():
        images[f"{r.instance_id}.png"] = [{"face": None, "size": 1.0, "cluster": int(r.cluster)}]
    return {"images": images}
