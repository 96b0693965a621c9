"""From a frame and its proposals to instance records: soft-alpha cutouts, COCO RLE masks, boxes, areas,
predicted categories, and an overlay image."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from animproc.image.masks import bbox_of, cutout, encode_rle, overlay, soft_alpha
from animproc.instances.classify import Prediction, predict_category


from animproc.instances.segment import Proposal, content_box, foreground_map


@dataclass
class Instance:
    index: int
    mask: np.ndarray
    alpha: np.ndarray
    box: tuple[int, int, int, int]
    area: int
    score: float
    source: str
    prediction: Prediction

    def record(self) -> dict:
        x, y, w, h = self.box
        return {"instance_index": self.index, "bbox_x": x, "bbox_y": y, "bbox_w": w, "bbox_h": h, "area": self.area,
                "mask_rle": encode_rle(self.mask)["counts"], "mask_height": self.mask.shape[0],
                "mask_width": self.mask.shape[1], "segment_score": round(float(self.score), 4), "source": self.source,
                "category": self.prediction.category, "category_score": self.prediction.score,
                "face_score": round(self.prediction.face_score, 4), "evidence": self.prediction.evidence}

    def rgba(self, image_bgr: np.ndarray) -> np.ndarray:
        return cutout(image_bgr, self.alpha, self.box)


def extract_instances(image_bgr: np.ndarray, proposals: list[Proposal], faces, min_area: int,
                      alpha_threshold: float) -> list[Instance]:
    """Instances of at least `min_area` pixels, largest first (an instance index is stable for a frame)."""
    content = content_box(image_bgr)
    fg = None
    out: list[Instance] = []
    sized = sorted(((int(np.count_nonzero(p.mask)), p) for p in proposals), key=lambda a: -a[0])
    for area, p in sized:
        if area < min_area:
            continue
        if fg is None:
            fg = _foreground_at_frame_size(image_bgr)
        box = bbox_of(p.mask)
        x, y, w, h = box
        distinct = float(fg[y:y + h, x:x + w][p.mask[y:y + h, x:x + w]].mean())
        out.append(Instance(len(out), p.mask, soft_alpha(p.mask, alpha_threshold), box, area, p.score,
                            p.source, predict_category(p.mask, faces, content, distinct)))
    return out


def _foreground_at_frame_size(image_bgr: np.ndarray, max_side: int = 512) -> np.ndarray:
    h, w = image_bgr.shape[:2]
    s = min(1.0, max_side / max(h, w))
    small = cv2.resize(image_bgr, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    return cv2.resize(foreground_map(small), (w, h), interpolation=cv2.INTER_LINEAR)


def frame_overlay(image_bgr: np.ndarray, instances: list[Instance]) -> np.ndarray:
    return overlay(image_bgr, [i.mask for i in instances],
                   [f"{i.index} {i.prediction.category} {i.prediction.score:.2f}" for i in instances])
