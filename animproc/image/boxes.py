"""Box geometry shared by identity, instances and temporal: boxes are (x0, y0, x1, y1) in any one unit."""
from __future__ import annotations

import numpy as np


def box_iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def overlap_of_smaller(a, b) -> float:
    """Intersection over the smaller box: a head's box inside its body's counts as the same subject."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return iw * ih / max(smaller, 1e-9)


def centre_inside(outer, inner) -> bool:
    """Whether `inner`'s centre lies in `outer`: a face inside a body's box belongs to that body."""
    cx, cy = (inner[0] + inner[2]) / 2, (inner[1] + inner[3]) / 2
    return bool(outer[0] <= cx <= outer[2] and outer[1] <= cy <= outer[3])


def inside_share(box, width: float, height: float) -> float:
    """The share of the box's area that lies in the picture [0, width] x [0, height]."""
    area = max((box[2] - box[0]) * (box[3] - box[1]), 1e-9)
    x0, y0, x1, y1 = max(box[0], 0), max(box[1], 0), min(box[2], width), min(box[3], height)
    return max(0.0, x1 - x0) * max(0.0, y1 - y0) / area


def grown_box(box: np.ndarray, min_side: float) -> np.ndarray:
    """The box grown about its centre to at least `min_side` each way: a far-away face a few pixels wide would
    otherwise lose its match to a pixel of drift in a carried box."""
    c, half = (box[:2] + box[2:]) / 2, np.maximum((box[2:] - box[:2]) / 2, min_side / 2)
    return np.concatenate([c - half, c + half])


def figure_box(face_box, bounds: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """Where the rest of a character is likely to be, from its face box: about three face widths across and
    up to eight face heights down (a standing figure), clipped to `bounds` (x0, y0, x1, y1)."""
    fx0, fy0, fx1, fy1 = face_box
    cx, fw, fh = (fx0 + fx1) / 2, fx1 - fx0, fy1 - fy0
    x0, y0, x1, y1 = bounds
    return max(x0, cx - 1.7 * fw), max(y0, fy0 - 0.45 * fh), min(x1, cx + 1.7 * fw), min(y1, fy0 + 8 * fh)
