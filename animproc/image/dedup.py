"""Near-duplicate removal across a whole film, and diversity-keeping subsampling.

Frames are visited best first (sharpest); each is kept unless it is a near duplicate of a frame already
kept. Both perceptual hashes must agree for a clear duplicate; pairs in the grey zone between
`hash_distance` and `borderline_distance` are settled by SSIM on small grayscale images.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from animproc.image.hashing import hamming_matrix, ssim


@dataclass(frozen=True)
class DedupDecision:
    keep: bool
    duplicate_of: int | None = None  # position of the kept frame it duplicates
    distance: int | None = None
    ssim: float | None = None


def deduplicate(phashes: Sequence[int], dhashes: Sequence[int], quality: Sequence[float],
                thumbnail: Callable[[int], np.ndarray], hash_distance: int, borderline_distance: int,
                ssim_threshold: float) -> list[DedupDecision]:
    n = len(phashes)
    if n == 0:
        return []
    ph = np.asarray(phashes, dtype=np.uint64)
    dh = np.asarray(dhashes, dtype=np.uint64)
    order = np.argsort(-np.asarray(quality, dtype=np.float64), kind="stable")
    decisions: list[DedupDecision | None] = [None] * n
    kept: list[int] = []
    for i in order:
        if kept:
            k = np.asarray(kept)
            dist = np.maximum(hamming_matrix(ph[i:i + 1], ph[k])[0], hamming_matrix(dh[i:i + 1], dh[k])[0])
            close = np.flatnonzero(dist <= borderline_distance)
            dup = None
            for j in close[np.argsort(dist[close], kind="stable")]:
                if dist[j] <= hash_distance:
                    dup = DedupDecision(False, int(k[j]), int(dist[j]))
                    break
                score = ssim(thumbnail(int(i)), thumbnail(int(k[j])))
                if score >= ssim_threshold:
                    dup = DedupDecision(False, int(k[j]), int(dist[j]), round(score, 4))
                    break
            if dup is not None:
                decisions[i] = dup
                continue
        decisions[i] = DedupDecision(True)
        kept.append(int(i))
    return decisions  # type: ignore[return-value]


def diverse_subset(hashes: Sequence[int], groups: Sequence[int], quality: Sequence[float], count: int) -> list[int]:
    """Pick `count` positions that cover the set: one per group (shot) first, best quality first, then
    farthest-point sampling in Hamming space so near-identical frames are the last to be chosen."""
    n = len(hashes)
    if count >= n:
        return list(range(n))
    h = np.asarray(hashes, dtype=np.uint64)
    q = np.asarray(quality, dtype=np.float64)
    chosen: list[int] = []
    best_per_group: dict[int, int] = {}
    for i in np.argsort(-q, kind="stable"):
        best_per_group.setdefault(int(groups[i]), int(i))
    for i in sorted(best_per_group.values(), key=lambda i: -q[i])[:count]:
        chosen.append(i)
    dmin = hamming_matrix(h, h[np.asarray(chosen)]).min(axis=1).astype(np.float64)
    while len(chosen) < count:
        dmin[np.asarray(chosen)] = -1
        nxt = int(np.argmax(dmin + q / (q.max() + 1e-9) * 0.5))  # ties go to the better frame
        chosen.append(nxt)
        dmin = np.minimum(dmin, hamming_matrix(h, h[nxt:nxt + 1])[:, 0])
    return sorted(chosen)
