"""Clustering face embeddings into identities: HDBSCAN (cosine, through L2-normalised vectors), after a PCA
reduction when the embeddings are wide (HDBSCAN's cost grows badly with dimension; bench/identities.py
measures the effect on purity and time)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NOISE = -1


@dataclass
class Clustering:
    labels: np.ndarray  # -1 = noise
    probabilities: np.ndarray
    medoids: dict[int, int]  # cluster -> index of its medoid
    intra_similarity: dict[int, float]  # mean cosine similarity to the medoid
    reduced_to: int | None

    @property
    def clusters(self) -> list[int]:
        return sorted(set(self.labels.tolist()) - {NOISE})


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def reduce_dimensions(embeddings: np.ndarray, dims: int | None, seed: int = 0) -> tuple[np.ndarray, int | None]:
    if not dims or embeddings.shape[1] <= dims or len(embeddings) <= dims:
        return _unit(embeddings), None
    from sklearn.decomposition import PCA

    # Not re-normalised: a face far from every identity keeps a short projection and stays an outlier.
    return PCA(dims, random_state=seed).fit_transform(_unit(embeddings)).astype(np.float32), dims


def cluster_embeddings(embeddings: np.ndarray, min_cluster_size: int, min_samples: int | None = None,
                       method: str = "eom", reduce_to: int | None = 32, epsilon: float = 0.0) -> Clustering:
    """`epsilon` (a distance between unit vectors) keeps HDBSCAN from splitting groups whose members are
    closer than the embedding model's same-person threshold."""
    from hdbscan import HDBSCAN  # scikit-learn's copy fails with cluster_selection_epsilon (1.9.1)

    emb = _unit(np.asarray(embeddings, np.float32))
    n = len(emb)
    if n < max(2, min_cluster_size):
        return Clustering(np.full(n, NOISE), np.zeros(n), {}, {}, None)
    reduced, dims = reduce_dimensions(emb, reduce_to)
    def fit(single: bool):
        model = HDBSCAN(min_cluster_size=min_cluster_size, min_samples=min_samples, cluster_selection_method=method,
                        metric="euclidean", allow_single_cluster=single, cluster_selection_epsilon=float(epsilon),
                        core_dist_n_jobs=1)
        return model, model.fit_predict(reduced)

    # HDBSCAN never returns its root as a cluster unless told to; telling it always would merge distinct
    # people whenever the data are few. So: several clusters when the data have them, else one if it is there.
    model, labels = fit(False)
    if (labels == NOISE).all():
        model, labels = fit(True)
    if dims:
        labels = _reject_misfits(emb, labels)
    return Clustering(labels, np.asarray(model.probabilities_, np.float32), *_medoids(emb, labels), dims)


def _medoids(emb: np.ndarray, labels: np.ndarray) -> tuple[dict[int, int], dict[int, float]]:
    """Per cluster: the member most similar to the others, and the members' mean similarity to it."""
    medoids, intra = {}, {}
    for c in sorted(set(labels.tolist()) - {NOISE}):
        idx = np.nonzero(labels == c)[0]
        m = idx[int(np.argmax((emb[idx] @ emb[idx].T).sum(1)))]
        medoids[c], intra[c] = int(m), float((emb[idx] @ emb[m]).mean())
    return medoids, intra


def _reject_misfits(emb: np.ndarray, labels: np.ndarray, k: float = 4.0) -> np.ndarray:
    """A reduction maps faces that resemble no one to short projections near the origin, where they can form a
    dense blob or join the nearest cluster. Checked in the full space: a cluster whose members are no closer to
    their mean direction than unrelated vectors would be (about 1/sqrt(m) for m of them) is dissolved, and a
    member far less similar to its cluster's mean than its members typically are (median - k * MAD) goes back
    to noise."""
    labels = labels.copy()
    for c in set(labels.tolist()) - {NOISE}:
        idx = np.nonzero(labels == c)[0]
        centre = emb[idx].mean(0)
        sims = emb[idx] @ (centre / max(float(np.linalg.norm(centre)), 1e-12))
        med = float(np.median(sims))
        if med < min(0.5, 2 / np.sqrt(len(idx))):
            labels[idx] = NOISE
            continue
        mad = float(np.median(np.abs(sims - med))) * 1.4826
        labels[idx[sims < med - k * max(mad, 0.01)]] = NOISE
    return labels


def nearest_medoid(query: np.ndarray, embeddings: np.ndarray, clustering: Clustering) -> tuple[int, float] | None:
    """The cluster whose medoid is most similar to `query` (for naming clusters from reference images)."""
    if not clustering.medoids:
        return None
    q = _unit(np.asarray(query, np.float32)[None])[0]
    sims = {c: float(_unit(embeddings[[m]])[0] @ q) for c, m in clustering.medoids.items()}
    best = max(sims, key=sims.get)
    return best, sims[best]


def cluster_tracks(vectors: np.ndarray, tracks: np.ndarray, min_cluster_size: int, min_samples: int | None = None,
                   method: str = "eom", reduce_to: int | None = 32, epsilon: float = 0.0) -> Clustering:
    """Cluster one point per track (its faces share a vector), then give every face its track's cluster.
    Repeating a track's vector once per face would make each long track a dense cluster of its own; the
    minimum cluster size, given in faces, becomes a size in tracks through the mean track length. A track
    already averages several faces, so density needs no smoothing: min_samples defaults to 1 track."""
    vectors = _unit(np.asarray(vectors, np.float32))
    if len(vectors) == 0:
        return Clustering(np.zeros(0, int), np.zeros(0, np.float32), {}, {}, None)
    ids, first, inverse = np.unique(tracks, return_index=True, return_inverse=True)
    per_track = len(tracks) / max(1, len(ids))
    size = max(2, int(round(min_cluster_size / per_track)))
    samples = 1 if min_samples is None else max(1, int(round(min_samples / per_track)))
    result = cluster_embeddings(vectors[first], size, samples, method, reduce_to, epsilon)
    labels = result.labels[inverse]
    probabilities = result.probabilities[inverse] if len(result.probabilities) else np.zeros(len(tracks))
    return Clustering(labels, probabilities, *_medoids(vectors, labels), result.reduced_to)
