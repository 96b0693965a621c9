"""A predicted category (character / object / background) for each mask, with a score. Evidence that
generalises across 3D films: a detected face inside the mask is the strongest cue for a character; masks
that span the picture or touch three of its borders are set or sky; other compact, distinct regions are
characters when upright and large enough to be a figure, objects otherwise. The review gate corrects it."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from animproc.image.faces import Face
from animproc.image.masks import bbox_of

CATEGORIES = ("character", "object", "background")


@dataclass(frozen=True)
class Prediction:
    category: str
    score: float
    face_score: float
    evidence: str


def _face_inside(mask: np.ndarray, faces: list[Face]) -> Face | None:
    """The best face whose centre lies in the mask, when the mask is of a size a body with that face could
    have (a sky or floor region that merely contains a face is not that face's character)."""
    best = None
    x, y, w, h = bbox_of(mask)
    for f in faces:
        if w > 5 * f.width or h > 10 * f.height:
            continue
        cx, cy = int((f.box[0] + f.box[2]) / 2), int((f.box[1] + f.box[3]) / 2)
        if 0 <= cy < mask.shape[0] and 0 <= cx < mask.shape[1] and mask[cy, cx] and (best is None or f.score > best.score):
            best = f
    return best


def predict_category(mask: np.ndarray, faces: list[Face], content: tuple[int, int, int, int],
                     distinctness: float) -> Prediction:
    x0, y0, x1, y1 = content
    cw, ch = max(1, x1 - x0), max(1, y1 - y0)
    x, y, w, h = bbox_of(mask)
    area_frac = float(np.count_nonzero(mask)) / (cw * ch)
    edge = 2
    touches = sum([x <= x0 + edge, y <= y0 + edge, x + w >= x1 - edge, y + h >= y1 - edge])
    face = _face_inside(mask, faces)
    if face is not None:
        return Prediction("character", round(0.5 + 0.5 * face.score, 3), face.score, f"face {face.score:.2f} inside")
    if w / cw > 0.9 or touches >= 3 or area_frac > 0.5:
        score = min(1.0, 0.5 + 0.5 * max(w / cw, area_frac, touches / 4))
        return Prediction("background", round(score, 3), 0.0, f"spans {w / cw:.0%} of the width, touches {touches} borders")
    upright = min(1.0, (h / max(w, 1)) / 1.2)
    figure = min(1.0, (h / ch) / 0.35)
    score = 0.4 * distinctness + 0.3 * upright + 0.3 * figure
    if score >= 0.5:
        return Prediction("character", round(score, 3), 0.0, f"no face; upright {upright:.2f}, height {h / ch:.0%}")
    return Prediction("object", round(1 - score, 3), 0.0, f"no face; upright {upright:.2f}, height {h / ch:.0%}")
