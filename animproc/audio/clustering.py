"""Speaker clustering of d-vectors with an automatic speaker count.

Spectral clustering as in Wang et al., "Speaker Diarization with LSTM" (ICASSP 2018), the recipe made for
the d-vector model resemblyzer implements: cosine affinity, row-wise pruning, symmetrisation, diffusion,
then the largest eigengap of the normalised Laplacian chooses the number of speakers. Two clusters whose
centroids are nearly the same voice are merged, so one speaker is not split in two.
"""
from __future__ import annotations

import numpy as np
from scipy.linalg import eigh
from sklearn.cluster import KMeans


def _refined_affinity(emb: np.ndarray, keep: float) -> np.ndarray:
    x = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    a = np.clip(x @ x.T, 0, 1)
    np.fill_diagonal(a, 1.0)
    k = max(2, int(np.ceil(keep * len(a))))
    threshold = np.sort(a, axis=1)[:, -k][:, None]
    a = np.where(a >= threshold, a, a * 0.01)  # prune weak links per row
    a = np.maximum(a, a.T)
    a = a @ a.T  # diffusion
    return a / a.max(axis=1, keepdims=True)


def cluster_speakers(emb: np.ndarray, max_speakers: int = 8, keep: float = 0.3, merge_similarity: float = 0.95,
                     seed: int = 0) -> np.ndarray:
    """Label each embedding with a speaker index 0..k-1 (k chosen automatically)."""
    n = len(emb)
    if n < 3:
        return np.zeros(n, dtype=int)
    a = _refined_affinity(emb, keep)
    d = np.diag(1 / np.sqrt(a.sum(axis=1)))
    lap = np.eye(n) - d @ a @ d
    vals, vecs = eigh(lap)
    top = min(max_speakers, n - 1)
    gaps = np.diff(vals[: top + 1])
    k = int(np.argmax(gaps)) + 1
    if k == 1:
        return np.zeros(n, dtype=int)
    spec = vecs[:, :k]
    spec = spec / (np.linalg.norm(spec, axis=1, keepdims=True) + 1e-9)
    labels = KMeans(k, n_init=10, random_state=seed).fit_predict(spec)
    return _merge_close(emb, labels, merge_similarity)


def _merge_close(emb: np.ndarray, labels: np.ndarray, similarity: float) -> np.ndarray:
    x = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    labels = labels.copy()
    while True:
        ids = np.unique(labels)
        if len(ids) < 2:
            break
        cents = np.stack([x[labels == i].mean(0) for i in ids])
        cents /= np.linalg.norm(cents, axis=1, keepdims=True)
        sim = cents @ cents.T
        np.fill_diagonal(sim, -1)
        i, j = np.unravel_index(np.argmax(sim), sim.shape)
        if sim[i, j] < similarity:
            break
        labels[labels == ids[j]] = ids[i]
    _, labels = np.unique(labels, return_inverse=True)
    return labels
