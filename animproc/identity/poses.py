"""Viewing-angle buckets and balanced samples per character.

Head yaw comes from the 5 face landmarks: the nose tip's horizontal offset from the midpoint of the eyes,
in units of the distance between the eyes, is near 0 for a frontal face and grows as the head turns; the
eye distance relative to the face box shrinks towards a profile. An instance with no detected face is `back`
when it is large enough that a face turned to the camera would have been found, else `unknown`."""
from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from animproc.identity.tracks import costume_histogram

BUCKETS = ("front", "three_quarter", "profile", "back", "unknown")


def yaw_ratio(landmarks: Sequence[float]) -> float:
    lm = np.asarray(landmarks, np.float32).reshape(5, 2)
    eyes = (lm[0] + lm[1]) / 2
    return float(abs(lm[2, 0] - eyes[0]) / max(float(np.linalg.norm(lm[1] - lm[0])), 1e-6))


def bucket_of(landmarks: Sequence[float] | None, box_width: float | None, instance_height: float,
              front_max: float, profile_min: float, back_min_height: float) -> tuple[str, float | None]:
    if landmarks is None:
        return ("back" if instance_height >= back_min_height else "unknown"), None
    r = yaw_ratio(landmarks)
    lm = np.asarray(landmarks, np.float32).reshape(5, 2)
    narrow = box_width is not None and float(np.linalg.norm(lm[1] - lm[0])) < 0.2 * box_width
    if r >= profile_min or narrow:
        return "profile", r
    return ("front" if r < front_max else "three_quarter"), r


def appearance_vector(rgba: np.ndarray) -> np.ndarray:
    """Silhouette (alpha at 16x16) and costume colours: what separates poses of one character within a bucket."""
    alpha = cv2.resize(rgba[..., 3], (16, 16), interpolation=cv2.INTER_AREA).astype(np.float32).reshape(-1)
    alpha /= max(float(np.linalg.norm(alpha)), 1e-6)
    return np.concatenate([alpha, costume_histogram(rgba)]).astype(np.float32)


def subclusters(vectors: np.ndarray, seed: int = 0) -> np.ndarray:
    """UMAP (to 5 dimensions) + HDBSCAN inside one bucket; small buckets are one group."""
    n = len(vectors)
    if n < 6:
        return np.zeros(n, int)
    points = vectors
    if n >= 15:
        from animproc.compiled import umap_module

        points = umap_module().UMAP(n_components=5, n_neighbors=min(15, n - 1), random_state=seed).fit_transform(vectors)
    from hdbscan import HDBSCAN

    return HDBSCAN(min_cluster_size=max(2, n // 10), core_dist_n_jobs=1).fit_predict(points)


def balanced_sample(buckets: Sequence[str], groups: Sequence[int], quality: Sequence[float], size: int) -> list[int]:
    """Indices chosen round-robin over buckets, and within a bucket over its sub-clusters (noise counting as
    one more), best quality first: every angle and pose is represented before any is repeated."""
    queues: dict[str, dict[int, list[int]]] = {}
    for i in np.argsort(-np.asarray(quality, float), kind="stable"):
        queues.setdefault(buckets[i], {}).setdefault(int(groups[i]), []).append(int(i))
    order = [b for b in BUCKETS if b in queues]
    cursors = {b: 0 for b in order}
    picked: list[int] = []
    while len(picked) < size and any(len(q) > 0 for b in order for q in queues[b].values()):
        for b in order:
            lists = [q for _, q in sorted(queues[b].items()) if q]
            if not lists or len(picked) >= size:
                continue
            q = lists[cursors[b] % len(lists)]
            picked.append(q.pop(0))
            cursors[b] += 1
    return picked
