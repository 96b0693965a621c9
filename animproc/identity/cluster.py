"""Clustering face embeddings into identities: HDBSCAN (cosine, through L2-normalised vectors), after a PCA
reduction when the embeddings are wide (HDBSCAN's cost grows badly with dimension; bench/identities.py
measures the effect on purity and time)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from animproc.robust import scaled_mad

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
        mad = scaled_mad(sims, med)
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
                   method: str = "eom", reduce_to: int | None = 32, epsilon: float = 0.0,
                   frames: np.ndarray | None = None, merge_below: float | None = None,
                   attach_below: float | None = None, long_tracks: bool = False,
                   merge_rule: str = "below", attach_rule: str = "mean", spread: float = 0.0) -> Clustering:
    """Cluster one point per track (its faces share a vector), then give every face its track's cluster.
    Repeating a track's vector once per face would make each long track a dense cluster of its own; the
    minimum cluster size, given in faces, becomes a size in tracks through the mean track length. A track
    already averages several faces, so density needs no smoothing: min_samples defaults to 1 track.
    With `frames` (each face's frame index) the track clusters are refined (`refine_clusters`): over-split
    ones merged, noise tracks attached, never across tracks seen on one frame. With `long_tracks` a noise
    track of at least `min_cluster_size` faces is a cluster of its own before that refinement (`own_clusters`).
    `spread` is the film's within-track spread of the face vectors (`within_track_spread`), which the vectors,
    track means, no longer show."""
    vectors = _unit(np.asarray(vectors, np.float32))
    if len(vectors) == 0:
        return Clustering(np.zeros(0, int), np.zeros(0, np.float32), {}, {}, None)
    ids, first, inverse = np.unique(tracks, return_index=True, return_inverse=True)
    per_track = len(tracks) / max(1, len(ids))
    size = max(2, int(round(min_cluster_size / per_track)))
    samples = 1 if min_samples is None else max(1, int(round(min_samples / per_track)))
    result = cluster_embeddings(vectors[first], size, samples, method, reduce_to, epsilon)
    if long_tracks:
        labels = own_clusters(result.labels, np.bincount(inverse), min_cluster_size)
        result.probabilities = np.where(labels != result.labels, 1.0, result.probabilities).astype(np.float32)
        result.labels = labels
    if frames is not None and (merge_below is not None or attach_below is not None):
        seen = [set(np.asarray(frames)[inverse == t].tolist()) for t in range(len(ids))]
        result.labels = refine_clusters(vectors[first], result.labels, seen, merge_below, attach_below, merge_rule,
                                        attach_rule, np.bincount(inverse), spread)
    labels = result.labels[inverse]
    probabilities = result.probabilities[inverse] if len(result.probabilities) else np.zeros(len(tracks))
    return Clustering(labels, probabilities, *_medoids(vectors, labels), result.reduced_to)


def own_clusters(labels: np.ndarray, faces_per_track: np.ndarray, min_faces: int) -> np.ndarray:
    """A face track is one identity: a track HDBSCAN left as noise that alone holds `min_faces` faces (a
    character seen in one long shot, such as the Sintel trailer's shaman) is a cluster, though one point
    among the tracks can never be dense."""
    labels = labels.copy()
    next_label = int(labels.max(initial=NOISE)) + 1
    for t in np.nonzero((labels == NOISE) & (faces_per_track >= min_faces))[0]:
        labels[t], next_label = next_label, next_label + 1
    return labels


def whiten(vectors: np.ndarray, shrink: float | None = 0.1) -> np.ndarray:
    """The film's shared component removed: on a CG film every face embedding is close to every other (one
    render style, one lighting), so the film's mean face is subtracted and, unless `shrink` is None, every
    principal direction of what is left is scaled to unit variance (its variance plus `shrink` times the mean
    variance, so that directions of pure noise are not blown up), then L2-normalised. Distances then measure
    how faces differ within this film, not how far they are from faces in general."""
    x = _unit(np.asarray(vectors, np.float32))
    centred = x - x.mean(0)
    if shrink is None or len(x) < 3:
        return _unit(centred)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    variance = s ** 2 / len(x)
    keep = variance > 1e-9 * max(float(variance.max()), 1e-12)
    scale = 1 / np.sqrt(variance[keep] + shrink * variance[keep].mean())
    return _unit((centred @ vt[keep].T) * scale).astype(np.float32)


def whiten_within_tracks(vectors: np.ndarray, tracks: np.ndarray, shrink: float | None = None) -> np.ndarray:
    """Within-class covariance normalisation with tracks as the classes, which need no labels: a track is one
    character, so the directions in which the faces of one track differ (turn, expression, blur, a shot's
    light moving) say nothing about who it is. They are scaled down: every principal direction of the
    within-track scatter is divided by the root of its variance plus `shrink` times the mean variance (so
    the directions no track varies in, often most of them on a short film, are not blown up), then rows are
    L2-normalised. `shrink` None takes it from the film (`within_track_shrink`). Not centred first: the film's
    mean face carries who is on screen as much as its style (centring measured worse on every labelled clip,
    bench/cg_identities.py). Unchanged without a track of two faces."""
    x = _unit(np.asarray(vectors, np.float32)).astype(np.float64)
    within = _within_track_residuals(x, np.asarray(tracks))
    if within is None:
        return x.astype(np.float32)
    variance, basis = np.linalg.eigh(within.T @ within / len(within))
    variance = np.maximum(variance, 0)
    if variance.mean() <= 1e-12:
        return x.astype(np.float32)
    if shrink is None:
        shrink = within_track_shrink(within)
    return _unit((x @ basis) / np.sqrt(variance + shrink * variance.mean())).astype(np.float32)


def _within_track_residuals(x: np.ndarray, tracks: np.ndarray) -> np.ndarray | None:
    """Each face of a track of two or more faces minus its track's mean; None without such a track."""
    groups = [x[tracks == t] for t in np.unique(tracks) if (tracks == t).sum() >= 2]
    return np.concatenate([g - g.mean(0) for g in groups]) if groups else None


def within_track_shrink(residuals: np.ndarray) -> float:
    """How far the film's within-track scatter is trusted, from the film itself: the Ledoit-Wolf shrinkage
    intensity a of the scatter towards its mean variance (the intensity that minimises the expected error of
    the estimate, computed from the residuals alone: few faces in many dimensions give a larger a), as the
    variance added to every direction, a / (1 - a) mean variances. On the labelled clips a runs from 0.10 (the
    battle, 134 residuals) to 0.51 (the snow fight, 17), where a constant 3 (a = 0.75) was tuned before."""
    from sklearn.covariance import ledoit_wolf_shrinkage

    a = float(ledoit_wolf_shrinkage(residuals, assume_centered=True))
    return a / max(1 - a, 1e-6)


def within_track_spread(vectors: np.ndarray, tracks: np.ndarray) -> float:
    """The film's within-track spread: the mean cosine distance of a face to the mean of the other faces of its
    track (tracks of two or more faces), 0 without one. A single face differs from its character's track
    means by about this much more than a long track's mean does, which `refine_clusters` allows for."""
    x = _unit(np.asarray(vectors, np.float32)).astype(np.float64)
    tracks = np.asarray(tracks)
    distances = []
    for t in np.unique(tracks):
        faces = x[tracks == t]
        if len(faces) >= 2:
            others = _unit((faces.sum(0)[None] - faces) / (len(faces) - 1))
            distances.append(1 - (faces * others).sum(1))
    return float(np.concatenate(distances).mean()) if distances else 0.0


def with_head_colour(faces: np.ndarray, heads: np.ndarray | None, weight: float) -> np.ndarray:
    """Face vectors joined with the head colours (hair, scalp, headgear), centred on the film's mean head, so
    the dot product of two rows is (1 - w) * face similarity + w * head-colour similarity."""
    if heads is None or weight <= 0:
        return faces
    head = _unit(np.asarray(heads, np.float32) - np.asarray(heads, np.float32).mean(0))
    return np.concatenate([np.sqrt(1 - weight) * _unit(faces), np.sqrt(weight) * head], axis=1).astype(np.float32)


def _co_occur(frames: list[set[int]], a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two groups of tracks are ever on the same frame: then they are two characters."""
    fa = set().union(*(frames[i] for i in a))
    return any(fa & frames[j] for j in b)


def _merge_path(distance: np.ndarray, labels: np.ndarray, frames: list[set[int]], limit: float,
                down_to: int = 1):
    """The partitions met merging the two clusters of least mean distance (below `limit`, never two seen on
    one frame) one pair at a time, down to `down_to` clusters: yields (labels, silhouette) after each merge.
    Kept incrementally (cluster distance sums, per-point sums to each cluster, cluster co-occurrence), so a
    feature film's hundreds of fine clusters cost a few matrix updates per merge."""
    keys = sorted(set(labels.tolist()) - {NOISE})
    if len(keys) < 2:
        return
    member = (labels[:, None] == np.array(keys)[None]).astype(np.float64)
    to_cluster = distance @ member  # every point's distance sum to each cluster
    sums = member.T @ to_cluster
    sizes = member.sum(0)
    frame_ids = {f: n for n, f in enumerate(sorted(set().union(*frames)))}
    on_frame = np.zeros((len(keys), max(1, len(frame_ids))), np.float32)
    for point in np.nonzero(labels != NOISE)[0]:
        on_frame[keys.index(labels[point]), [frame_ids[f] for f in frames[point]]] = 1
    together = (on_frame @ on_frame.T) > 0
    alive = np.ones(len(keys), bool)
    own = np.full(len(labels), -1)
    own[labels != NOISE] = [keys.index(v) for v in labels[labels != NOISE]]
    while alive.sum() > down_to:
        mean = sums / np.maximum(np.outer(sizes, sizes), 1)
        blocked = together | ~alive[:, None] | ~alive[None] | np.eye(len(keys), dtype=bool) | (mean >= limit)
        mean[blocked] = np.inf
        a, b = np.unravel_index(int(np.argmin(mean)), mean.shape)
        if not np.isfinite(mean[a, b]):
            return
        a, b = min(a, b), max(a, b)
        sums[a] += sums[b]
        sums[:, a] += sums[:, b]
        to_cluster[:, a] += to_cluster[:, b]
        sizes[a] += sizes[b]
        together[a] |= together[b]
        together[:, a] |= together[:, b]
        alive[b] = False
        own[own == b] = a
        yield np.where(own >= 0, np.array(keys)[np.maximum(own, 0)], NOISE), _silhouette(to_cluster, sizes, alive, own)


def _silhouette(to_cluster: np.ndarray, sizes: np.ndarray, alive: np.ndarray, own: np.ndarray) -> float:
    clustered = np.nonzero(own >= 0)[0]
    if alive.sum() < 2 or not len(clustered):
        return -1.0
    own_c = own[clustered]
    own_size = sizes[own_c] - 1
    a = np.where(own_size > 0, to_cluster[clustered, own_c] / np.maximum(own_size, 1), 0.0)
    other = to_cluster[clustered] / np.maximum(sizes, 1)
    other[:, ~alive] = np.inf
    other[np.arange(len(clustered)), own_c] = np.inf
    b = other.min(1)
    return float(np.where(own_size > 0, (b - a) / np.maximum(np.maximum(a, b), 1e-12), 0.0).mean())


def silhouette(distance: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette of the clustered points (noise left out): (b - a) / max(a, b), a the mean distance to
    the point's own cluster, b to the nearest other; -1 with fewer than two clusters."""
    keys = sorted(set(labels.tolist()) - {NOISE})
    if len(keys) < 2:
        return -1.0
    member = (labels[:, None] == np.array(keys)[None]).astype(np.float64)
    own = np.full(len(labels), -1)
    own[labels != NOISE] = [keys.index(v) for v in labels[labels != NOISE]]
    return _silhouette(distance @ member, member.sum(0), np.ones(len(keys), bool), own)


def _merge_by_silhouette(distance: np.ndarray, labels: np.ndarray, frames: list[set[int]],
                         limit: float) -> np.ndarray:
    """Closest clusters merged one pair at a time down to two; the partition with the best silhouette kept."""
    best, best_score = labels, silhouette(distance, labels)
    for merged, score in _merge_path(distance, labels, frames, limit, down_to=2):
        if score > best_score:
            best, best_score = merged, score
    return best


def refine_clusters(vectors: np.ndarray, labels: np.ndarray, frames: list[set[int]], merge_below: float | None,
                    attach_below: float | None, merge_rule: str = "below", attach_rule: str = "mean",
                    faces: np.ndarray | None = None, spread: float = 0.0) -> np.ndarray:
    """HDBSCAN splits a CG character whose faces turn and change light into several dense groups and leaves
    its in-between faces as noise. Against the film's typical distance (the median cosine distance between
    any two of its points, `vectors` one per track): two clusters whose members are mutually closer (mean
    distance) than `merge_below` times it are merged, closest first, and a noise point joins the cluster it
    is on average closer to than `attach_below` times it (`attach_rule` "nearest": the cluster of its nearest
    point, `_attach`). Never across points seen on one frame (`frames`:
    the frames of each point), which are two characters. With `merge_rule` "silhouette" the merges go on
    while two clusters remain and the partition along the way with the best silhouette is kept (`merge_below`
    then only bounds which pairs may merge): whether two groups are one character is judged by how they sit
    among the film's other groups, not by one distance that suits one film. A point of `faces` faces (1 each
    without) may attach `spread / faces` further: a single face is as far from its own track's mean as the
    film's faces typically are (`spread`, `within_track_spread`), so it sits that much further from its
    character's other tracks than a long track's mean would."""
    labels = labels.copy()
    x = _unit(np.asarray(vectors, np.float32))
    if len(x) < 2:
        return labels
    distance = 1 - x @ x.T
    typical = float(np.median(distance[np.triu_indices(len(x), 1)]))
    if merge_below is not None:
        limit = merge_below * typical
        if merge_rule == "silhouette":
            labels = _merge_by_silhouette(distance, labels, frames, limit)
        else:
            for labels, _ in _merge_path(distance, labels, frames, limit):
                pass
    if attach_below is not None:
        few_faces = spread / (np.ones(len(x)) if faces is None else np.maximum(np.asarray(faces, float), 1))
        labels = _attach(distance, labels, frames, attach_below * typical + few_faces, attach_rule)
    _, dense = np.unique(labels, return_inverse=True)
    return np.where(labels == NOISE, NOISE, dense - (NOISE in labels)).astype(int)


def _attach(distance: np.ndarray, labels: np.ndarray, frames: list[set[int]], limit: np.ndarray,
            rule: str) -> np.ndarray:
    """Every noise point joins a cluster none of whose points is on one of its frames, if closer than its `limit`:
    rule "mean", the cluster it is on average closest to; "nearest", the cluster of its nearest clustered
    point. A character seen in several looks (masked and not, by firelight and by day) is a cluster whose mean
    is far from each look; the nearest point measures the distance to the look the noise point shares."""
    keys = sorted(set(labels.tolist()) - {NOISE})
    new = labels.copy()
    for i in np.nonzero(labels == NOISE)[0]:
        options = []
        for k in keys:
            members = np.nonzero(labels == k)[0]
            if not _co_occur(frames, members, np.array([i])):
                d = distance[i, members]
                options.append((float(d.min() if rule == "nearest" else d.mean()), k))
        if options and min(options)[0] < limit[i]:
            new[i] = min(options)[1]
    return new


def assign_by_examples(vectors: np.ndarray, examples: dict[int, str]) -> tuple[list[str | None], np.ndarray]:
    """The few-shot path: after a curator has named a few faces per character (`examples`: row -> name), every
    row gets the name whose examples it is most similar to (mean cosine similarity), with a confidence: the
    softmax margin between the best and the second-best name (1 with a single name: its similarity, clipped).
    Rows named by the curator keep their name with confidence 1."""
    x = _unit(np.asarray(vectors, np.float32))
    names = sorted(set(examples.values()))
    if not names:
        return [None] * len(x), np.zeros(len(x), np.float32)
    sims = np.stack([x @ x[[i for i, n in examples.items() if n == name]].mean(0) for name in names], axis=1)
    best = sims.argmax(1)
    if len(names) == 1:
        confidence = np.clip(sims[:, 0], 0, 1)
    else:
        top2 = np.sort(sims, axis=1)[:, -2:]
        confidence = 1 / (1 + np.exp(-20 * (top2[:, 1] - top2[:, 0]))) * 2 - 1
    out = [names[b] for b in best]
    for i, n in examples.items():
        out[i], confidence[i] = n, 1.0
    return out, confidence.astype(np.float32)
