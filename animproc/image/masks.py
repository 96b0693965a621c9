"""Masks as COCO RLE (pycocotools' compressed string form), soft alpha, cutouts and overlays."""
from __future__ import annotations

import cv2
import numpy as np
from pycocotools import mask as coco_mask


def encode_rle(mask: np.ndarray) -> dict:
    """A boolean HxW mask as COCO RLE: {"size": [h, w], "counts": str}."""
    rle = coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}


def decode_rle(rle: dict) -> np.ndarray:
    return coco_mask.decode({"size": list(rle["size"]), "counts": rle["counts"].encode("ascii")}).astype(bool)


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 0.0


def bbox_of(mask: np.ndarray) -> tuple[int, int, int, int]:
    """(x, y, w, h) of the mask's pixels, as COCO boxes are written."""
    ys, xs = np.nonzero(mask)
    if not len(xs):
        return 0, 0, 0, 0
    return int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)


def soft_alpha(mask: np.ndarray, threshold: float, feather: float | None = None) -> np.ndarray:
    """A soft alpha (0..1) from a hard mask: edges feathered in proportion to the object's size, so
    anti-aliased 3D edges keep their blend; values under `threshold` are cut to 0."""
    m = mask.astype(np.float32)
    if feather is None:
        x, y, w, h = bbox_of(mask)
        feather = max(0.8, 0.004 * max(w, h))
    alpha = cv2.GaussianBlur(m, (0, 0), feather)
    alpha = np.maximum(alpha, cv2.erode(m, np.ones((3, 3), np.uint8)))  # the interior stays opaque
    alpha[alpha < threshold] = 0.0
    return alpha


def cutout(image_bgr: np.ndarray, alpha: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """BGRA crop of the box with the alpha as its fourth channel."""
    x, y, w, h = box
    rgba = np.dstack([image_bgr[y:y + h, x:x + w], (alpha[y:y + h, x:x + w] * 255).round().astype(np.uint8)])
    return rgba


PALETTE = [(66, 135, 245), (245, 130, 48), (60, 180, 75), (230, 25, 75), (145, 30, 180), (70, 240, 240),
           (240, 50, 230), (210, 245, 60), (250, 190, 190), (0, 128, 128)]


def overlay(image_bgr: np.ndarray, masks: list[np.ndarray], labels: list[str]) -> np.ndarray:
    """The frame with each mask tinted, outlined and labelled (for the UI and the review page)."""
    out = image_bgr.copy()
    for k, m in enumerate(masks):
        colour = np.array(PALETTE[k % len(PALETTE)], np.float32)
        out[m] = (0.55 * out[m] + 0.45 * colour).astype(np.uint8)
        contours, _ = cv2.findContours(m.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(out, contours, -1, tuple(int(c) for c in colour), 2, cv2.LINE_AA)
    for k, m in enumerate(masks):
        x, y, w, h = bbox_of(m)
        cv2.putText(out, labels[k], (x + 3, y + 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(out, labels[k], (x + 3, y + 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return out
