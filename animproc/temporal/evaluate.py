"""Shot structure against a reference that labels shots by frame range."""
from __future__ import annotations

import pandas as pd


def most_overlapping(detected: pd.DataFrame, start: int, end: int):
    """The index of the detected shot that overlaps frames [start, end] most, or None where none does."""
    overlap = (detected["end_frame"].clip(upper=end) - detected["start_frame"].clip(lower=start) + 1).clip(lower=0)
    return overlap.idxmax() if len(overlap) and overlap.max() > 0 else None


def structure_scores(detected: pd.DataFrame, reference: list[dict], attributes=("scale", "camera")) -> dict:
    """Each reference shot is compared with the detected shot that overlaps it most (in frames); per attribute:
    accuracy over the reference shots that carry it, and the confusion table (reference rows, detected
    columns)."""
    pairs = []
    for ref in reference:
        best = most_overlapping(detected, int(ref["start_frame"]), int(ref["end_frame"]))
        if best is not None:
            pairs.append((ref, detected.loc[best]))
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


def track_identities(tracks: pd.DataFrame, on_screen: list[dict], width: int, height: int,
                     min_iou: float = 0.1) -> dict[str, dict]:
    """Per track: which reference character its box overlaps most on each of its samples (`on_screen`: per frame
    index, characters with `name` and `bbox` in pixels), the majority character and its share of the samples
    that overlap anyone. A track that switches characters has a share below 1."""
    from collections import Counter

    import numpy as np

    from animproc.image.boxes import box_iou
    from animproc.temporal.tracks import path_boxes

    frames = {int(e["frame"]): e["characters"] for e in on_screen}
    scale = np.array([width, height, width, height])
    out = {}
    for t in tracks.itertuples():
        names = Counter()
        for f, fraction in path_boxes(t.path):
            box = fraction * scale
            scored = [(box_iou(box, np.array(c["bbox"], float)), c["name"]) for c in frames.get(int(f), [])]
            iou, name = max(scored, default=(0.0, None))
            if iou >= min_iou:
                names[name] += 1
        top, count = names.most_common(1)[0] if names else (None, 0)
        out[str(t.track_id)] = {"shot_id": int(t.shot_id), "character": top,
                                "share": round(count / max(sum(names.values()), 1), 3), "matched": sum(names.values())}
    return out


COARSE_SCALES = {"extreme_close_up": "close", "close_up": "close", "medium_close_up": "close", "medium": "medium",
                 "medium_long": "medium", "long": "long", "extreme_long": "long", "no_subject": "no_subject"}


def coarse_labels(table: pd.DataFrame) -> pd.DataFrame:
    """A structure table with its scale and camera in the coarse classes labelled by eye: close / medium / long
    / no_subject, and static / moving (any camera movement, handheld shake included)."""
    out = table.copy()
    out["scale"] = out["scale"].map(COARSE_SCALES)
    out["camera"] = ["static" if c == "static" else "moving" for c in out["camera"]]
    return out
