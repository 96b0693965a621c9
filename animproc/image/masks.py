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
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if not len(cols):
        return 0, 0, 0, 0
    return int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1)


def _window(box: tuple[int, int, int, int], grow: int, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    x, y, w, h = box
    return max(0, x - grow), max(0, y - grow), min(shape[1], x + w + grow), min(shape[0], y + h + grow)


def soft_alpha(mask: np.ndarray, threshold: float, feather: float | None = None) -> np.ndarray:
    """A soft alpha (0..1) from a hard mask: edges feathered in proportion to the object's size, so
    anti-aliased 3D edges keep their blend; values under `threshold` are cut to 0. Computed in a window
    around the mask twice the blur's reach wide (the same values as over the whole frame, at a fraction of
    the cost for a small character in a large frame)."""
    box = bbox_of(mask)
    if feather is None:
        feather = max(0.8, 0.004 * max(box[2], box[3]))
    alpha = np.zeros(mask.shape, np.float32)
    if not box[2]:
        return alpha
    reach = (int(round(feather * 8 + 1)) | 1) // 2 + 1  # OpenCV's float kernel: 8 sigma + 1 taps
    ox0, oy0, ox1, oy1 = _window(box, 2 * reach, mask.shape)
    ix0, iy0, ix1, iy1 = _window(box, reach, mask.shape)
    m = mask[oy0:oy1, ox0:ox1].astype(np.float32)
    a = cv2.GaussianBlur(m, (0, 0), feather)
    a = np.maximum(a, cv2.erode(m, np.ones((3, 3), np.uint8)))  # the interior stays opaque
    a[a < threshold] = 0.0
    alpha[iy0:iy1, ix0:ix1] = a[iy0 - oy0:iy1 - oy0, ix0 - ox0:ix1 - ox0]
    return alpha


def cutout(image_bgr: np.ndarray, alpha: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """BGRA crop of the box with the alpha as its fourth channel."""
    x, y, w, h = box
    rgba = np.dstack([image_bgr[y:y + h, x:x + w], (alpha[y:y + h, x:x + w] * 255).round().astype(np.uint8)])
    return rgba


PALETTE = [(66, 135, 245), (245, 130, 48), (60, 180, 75), (230, 25, 75), (145, 30, 180), (70, 240, 240),
           (240, 50, 230), (210, 245, 60), (250, 190, 190), (0, 128, 128)]


def overlay(image_bgr: np.ndarray, masks: list[np.ndarray], labels: list[str]) -> np.ndarray:
    """The frame with each mask tinted, outlined and labelled (for the UI and the review page); each mask is
    worked on inside its box."""
    out = image_bgr.copy()
    boxes = [bbox_of(m) for m in masks]
    for k, (m, box) in enumerate(zip(masks, boxes)):
        if not box[2]:
            continue
        colour = np.array(PALETTE[k % len(PALETTE)], np.float32)
        x0, y0, x1, y1 = _window(box, 1, m.shape)
        inside, view = m[y0:y1, x0:x1], out[y0:y1, x0:x1]
        view[inside] = (0.55 * view[inside] + 0.45 * colour).astype(np.uint8)
        contours, _ = cv2.findContours(inside.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE,
                                       offset=(x0, y0))
        cv2.drawContours(out, contours, -1, tuple(int(c) for c in colour), 2, cv2.LINE_AA)
    for k, (x, y, w, h) in enumerate(boxes):
        cv2.putText(out, labels[k], (x + 3, y + 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(out, labels[k], (x + 3, y + 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return out
