"""Scores of an identity clustering against reference labels."""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from sklearn.metrics import adjusted_rand_score


def identity_scores(predicted: Sequence[int], reference: Sequence[str]) -> dict:
    """purity: share of clustered faces that carry their cluster's majority label; coverage: share of faces
    that landed in a cluster (not noise); ARI with each noise face as its own singleton; cluster count."""
    pairs = list(zip(predicted, reference))
    clustered = [(p, r) for p, r in pairs if p != -1]
    majority = 0
    for c in {p for p, _ in clustered}:
        majority += Counter(r for p, r in clustered if p == c).most_common(1)[0][1]
    singletons = [p if p != -1 else f"noise-{i}" for i, p in enumerate(predicted)]
    return {"faces": len(pairs), "clusters": len({p for p, _ in clustered}),
            "reference_identities": len(set(reference)),
            "purity": round(majority / len(clustered), 4) if clustered else 0.0,
            "coverage": round(len(clustered) / len(pairs), 4) if pairs else 0.0,
            "ari": (round(float(adjusted_rand_score(list(reference), [str(s) for s in singletons])), 4)
                    if pairs else 0.0)}
