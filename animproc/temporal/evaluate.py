"""Shot structure against a reference that labels shots by frame range."""
from __future__ import annotations

import pandas as pd


def structure_scores(detected: pd.DataFrame, reference: list[dict], attributes=("scale", "camera")) -> dict:
    """Each reference shot is compared with the detected shot that overlaps it most (in frames); per attribute:
    accuracy over the reference shots that carry it, and the confusion table (reference rows, detected
    columns)."""
    pairs = []
    for ref in reference:
        a, b = int(ref["start_frame"]), int(ref["end_frame"])
        overlap = (detected["end_frame"].clip(upper=b) - detected["start_frame"].clip(lower=a) + 1).clip(lower=0)
        if overlap.max() <= 0:
            continue
        pairs.append((ref, detected.loc[overlap.idxmax()]))
    out = {"reference_shots": len(reference), "matched": len(pairs)}
    for attr in attributes:
        rows = [(r[attr], d[attr]) for r, d in pairs if attr in r and attr in d]
        if not rows:
            continue
        truth, found = zip(*rows)
        table = pd.crosstab(pd.Series(truth, name="reference"), pd.Series(found, name="detected"))
        confusion = {str(k): {str(c): int(v) for c, v in row.items() if v} for k, row in table.iterrows()}
        out[attr] = {"accuracy": round(sum(t == f for t, f in rows) / len(rows), 4), "shots": len(rows),
                     "confusion": confusion}
    return out
