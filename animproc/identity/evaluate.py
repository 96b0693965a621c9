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


def labels_on_screen(faces, on_screen: list[dict]) -> tuple[list[int], list[str]]:
    """(cluster, reference name) of each clustered face whose centre lies in a reference face box of its frame
    (`on_screen`: per frame, the characters with their `face_bbox`, as the sample film's ground truth lists
    them); faces on no reference face are left out."""
    from animproc.image.boxes import centre_inside

    frames = {int(e["frame"]): e["characters"] for e in on_screen}
    predicted, reference = [], []
    for r in faces.itertuples():
        names = [c["name"] for c in frames.get(int(r.frame_index), [])
                 if "face_bbox" in c and centre_inside(c["face_bbox"], (r.x0, r.y0, r.x1, r.y1))]
        if names:
            predicted.append(int(r.cluster))
            reference.append(names[0])
    return predicted, reference
