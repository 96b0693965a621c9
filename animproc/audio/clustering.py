"""Speaker clustering of d-vectors: a speaker count read from the similarity structure, then turns
resegmented by an HMM.

1. Agglomerative clustering (average linkage, cosine) stops where clusters are less alike than two stretches
   of one voice are: `same_voice` (0.68). Measured on resemblyzer windows of nine recordings and mixes
   (bench/diarization.py), one speaker's windows have median similarity 0.71-0.79 and different speakers'
   0.46-0.70, whatever the number of speakers; the eigengap count this replaces read 2 speakers for 4 and
   1 for 2 on recordings it was not tuned on.
2. A cluster of under `min_windows` windows (2 s of speech) or 3% of them is noise of a bigger one unless it
   sounds like no bigger one (centroid similarity under `lone_voice`): a film character with one short line
   keeps a speaker of their own. Lone small clusters are grouped among themselves at the same bar.
3. Resegmentation, after VBx (Landini et al., "Bayesian HMM clustering of x-vector sequences", 2022) without
   its PLDA: an HMM whose states are the speakers, von Mises-Fisher emissions around each speaker's mean
   (`concentration`), a loop probability that makes turns last (`stay`), forward-backward posteriors that
   re-estimate the means and the speakers' priors, and speakers whose share falls under `min_share` pruned.
   Turns follow the sequence rather than each window's nearest centroid; the chain restarts across pauses
   of 2 s or more, where turns change.
"""
from __future__ import annotations

import numpy as np

SMALL_SHARE = 0.03  # a cluster is also small under this share of the windows
PAUSE_GAP = 3.6  # s between window centres: 1.6 s windows with a pause of 2 s or more between them


def _unit(x: np.ndarray) -> np.ndarray:
    return x / (np.linalg.norm(x, axis=-1, keepdims=True) + 1e-12)


def _centroids(x: np.ndarray, labels: np.ndarray) -> np.ndarray:
    return _unit(np.stack([x[labels == k].mean(0) for k in np.unique(labels)]))


def _ahc(x: np.ndarray, similarity: float) -> np.ndarray:
    from scipy.cluster.hierarchy import fcluster, linkage

    if len(x) < 2:
        return np.zeros(len(x), dtype=int)
    return fcluster(linkage(x, "average", metric="cosine"), 1 - similarity, "distance") - 1


def _absorb_small(x: np.ndarray, labels: np.ndarray, min_windows: int, lone_voice: float) -> np.ndarray:
    """Centroids of the speakers kept: the big clusters, plus small ones that sound like none of them."""
    _, sizes = np.unique(labels, return_counts=True)
    cents = _centroids(x, labels)
    big = sizes >= max(min_windows, SMALL_SHARE * len(x))
    if not big.any():
        big[np.argmax(sizes)] = True
    keep = [cents[big]]
    small = cents[~big]
    if len(small):
        lone = small[(small @ cents[big].T).max(axis=1) < lone_voice]
        if len(lone):
            groups = _ahc(lone, lone_voice)
            keep.append(_unit(np.stack([lone[groups == g].mean(0) for g in np.unique(groups)])))
    return np.concatenate(keep)


def _cap(cents: np.ndarray, max_speakers: int) -> np.ndarray:
    while len(cents) > max_speakers:
        sim = cents @ cents.T
        np.fill_diagonal(sim, -np.inf)
        i, j = np.unravel_index(np.argmax(sim), sim.shape)
        merged = _unit(cents[i] + cents[j])
        cents = np.vstack([np.delete(cents, [i, j], axis=0), merged])
    return cents


def _kmeans(x: np.ndarray, cents: np.ndarray, iters: int = 5) -> np.ndarray:
    for _ in range(iters):
        labels = np.argmax(x @ cents.T, axis=1)
        cents = _unit(np.stack([x[labels == k].mean(0) if (labels == k).any() else cents[k]
                                for k in range(len(cents))]))
    return cents


def _transitions(prior: np.ndarray, stay: np.ndarray) -> np.ndarray:
    """(n-1, k, k): stay with the speaker with probability `stay[t]`, else draw one from the prior."""
    k = len(prior)
    return (1 - stay)[:, None, None] * np.tile(prior, (k, 1))[None] + stay[:, None, None] * np.eye(k)[None]


def hmm_resegment(x: np.ndarray, cents: np.ndarray, times: np.ndarray | None = None, concentration: float = 20.0,
                  stay: float = 0.99, min_share: float = 0.01, iters: int = 10,
                  restart_gap: float = PAUSE_GAP) -> np.ndarray:
    """Speaker index per window (in time order) from forward-backward posteriors, VBx-style. `stay` holds
    per window hop; where consecutive window centres (`times`) are over `restart_gap` seconds apart (a pause
    between speech regions) the chain restarts from the prior: turns change at pauses, and a speaker after a
    silence is not bound to the one before it."""
    n = len(x)
    stays = np.full(max(n - 1, 0), stay)
    if times is not None and n > 1:
        stays[np.diff(times) > restart_gap] = 0.0
    post = np.eye(len(cents))[np.argmax(x @ cents.T, axis=1)]
    for _ in range(iters):
        share = post.sum(0) / n
        post = post[:, share >= min_share] if (share >= min_share).any() else post[:, [np.argmax(share)]]
        k = post.shape[1]
        if k == 1:
            return np.zeros(n, dtype=int)
        means, prior = _unit(post.T @ x), post.sum(0) / post.sum()
        loglik = concentration * (x @ means.T)
        lik = np.exp(loglik - loglik.max(axis=1, keepdims=True))
        trans = _transitions(prior, stays)
        fwd, bwd = np.empty((n, k)), np.ones((n, k))
        fwd[0] = prior * lik[0] / (prior * lik[0]).sum()
        for t in range(1, n):
            f = (fwd[t - 1] @ trans[t - 1]) * lik[t]
            fwd[t] = f / f.sum()
        for t in range(n - 2, -1, -1):
            b = trans[t] @ (lik[t + 1] * bwd[t + 1])
            bwd[t] = b / b.sum()
        post = fwd * bwd
        post /= post.sum(axis=1, keepdims=True)
    _, labels = np.unique(np.argmax(post, axis=1), return_inverse=True)
    return labels


def speaker_centroids(emb: np.ndarray, max_speakers: int = 8, same_voice: float = 0.68, lone_voice: float = 0.5,
                      min_windows: int = 8) -> np.ndarray:
    """Unit centroids of the speakers found in `emb` (windows of any order); their number is the count."""
    x = _unit(np.asarray(emb, np.float64))
    if len(x) < 3:
        return _unit(x.mean(0, keepdims=True))
    cents = _absorb_small(x, _ahc(x, same_voice), min_windows, lone_voice)
    return _kmeans(x, _cap(cents, max_speakers))


def cluster_speakers(emb: np.ndarray, max_speakers: int = 8, same_voice: float = 0.68, lone_voice: float = 0.5,
                     min_windows: int = 8, resegment: bool = True, times: np.ndarray | None = None) -> np.ndarray:
    """Label each embedding (windows in time order) with a speaker index 0..k-1, k chosen from the data."""
    x = _unit(np.asarray(emb, np.float64))
    if len(x) < 3:
        return np.zeros(len(x), dtype=int)
    cents = speaker_centroids(x, max_speakers, same_voice, lone_voice, min_windows)
    if not resegment or len(cents) == 1:
        _, labels = np.unique(np.argmax(x @ cents.T, axis=1), return_inverse=True)
        return labels
    return hmm_resegment(x, cents, times)
