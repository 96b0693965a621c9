"""Faces linked into tracks within a shot, and the vectors identity clustering uses: one character's faces
in consecutive sampled frames of a shot rarely jump, and averaging a track's embeddings steadies small,
blurred or turned CG faces whose single embeddings scatter."""
from __future__ import annotations

import cv2
import numpy as np
import pandas as pd

from animproc.image.boxes import box_iou, centre_inside  # noqa: F401  (centre_inside: callers' old import)
from animproc.progress import NO_PROGRESS, Progress


def link_tracks(faces: pd.DataFrame, min_iou: float = 0.3, progress: Progress = NO_PROGRESS) -> np.ndarray:
    """A track id per face (columns shot_id, frame_index, x0, y0, x1, y1): faces of the same shot in
    consecutive sampled frames are linked greedily by box IoU (highest first), one to one. `progress` hears of
    the faces linked, a shot at a time."""
    track = np.arange(len(faces))
    pos = {idx: k for k, idx in enumerate(faces.index)}
    task = progress.task("tracks", len(faces), "faces")
    for _, shot in faces.groupby("shot_id", sort=False):
        frames = sorted(shot["frame_index"].unique())
        for f0, f1 in zip(frames, frames[1:]):
            a, b = shot[shot["frame_index"] == f0], shot[shot["frame_index"] == f1]
            boxes_a = a[["x0", "y0", "x1", "y1"]].to_numpy()
            boxes_b = b[["x0", "y0", "x1", "y1"]].to_numpy()
            pairs = sorted(((box_iou(ba, bb), ia, ib) for ia, ba in zip(a.index, boxes_a)
                            for ib, bb in zip(b.index, boxes_b)), reverse=True)
            used_a, used_b = set(), set()
            for iou, ia, ib in pairs:
                if iou < min_iou or ia in used_a or ib in used_b:
                    continue
                used_a.add(ia)
                used_b.add(ib)
                track[track == track[pos[ib]]] = track[pos[ia]]
        task.advance(len(shot))
    task.finish()
    _, dense = np.unique(track, return_inverse=True)
    return dense


def costume_histogram(rgba: np.ndarray) -> np.ndarray:
    """Hue-saturation histogram of an instance cutout's opaque pixels, L2-normalised."""
    hsv = cv2.cvtColor(np.ascontiguousarray(rgba[..., :3]), cv2.COLOR_BGR2HSV)
    mask = (rgba[..., 3] > 127).astype(np.uint8) if rgba.shape[2] == 4 else None
    hist = cv2.calcHist([hsv], [0, 1], mask, [12, 4], [0, 180, 0, 256]).reshape(-1).astype(np.float32)
    return hist / max(float(np.linalg.norm(hist)), 1e-12)


def head_region(box, width: int, height: int) -> tuple[int, int, int, int]:
    """The head around a face box: the hair above it and beside it, where CG characters differ most in colour
    (red hair, a bald head, a helmet) while their rendered faces look alike."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    return (int(max(0, x0 - 0.25 * w)), int(max(0, y0 - 0.6 * h)), int(min(width, x1 + 0.25 * w)),
            int(min(height, y0 + 0.35 * h)))


def head_colour(image_bgr: np.ndarray, box) -> np.ndarray:
    """Hue-saturation-value histogram of the head region (hair, scalp, headgear), L2-normalised: 18 hues (20
    degrees each, so red hair and skin fall apart) for the coloured pixels, 4 grey levels for the unsaturated
    ones (a white-haired or grey head has no hue)."""
    x0, y0, x1, y1 = head_region(box, image_bgr.shape[1], image_bgr.shape[0])
    if x1 - x0 < 2 or y1 - y0 < 2:
        return np.zeros(22, np.float32)
    hsv = cv2.cvtColor(np.ascontiguousarray(image_bgr[y0:y1, x0:x1]), cv2.COLOR_BGR2HSV).reshape(-1, 3).astype(int)
    coloured = (hsv[:, 1] >= 60) & (hsv[:, 2] >= 40)
    hist = np.concatenate([np.bincount(hsv[coloured, 0] * 18 // 180, minlength=18),
                           np.bincount(hsv[~coloured, 2] * 4 // 256, minlength=4)]).astype(np.float32)
    return hist / max(float(np.linalg.norm(hist)), 1e-12)


def clustering_vectors(embeddings: np.ndarray, tracks: np.ndarray, bodies: list[np.ndarray | None],
                       body_weight: float) -> np.ndarray:
    """Per face: its track's mean face embedding, joined with its track's mean costume histogram so that the
    dot product of two vectors is (1 - w) * face similarity + w * costume similarity."""
    dim_body = next((len(b) for b in bodies if b is not None), 0)
    out = np.zeros((len(embeddings), embeddings.shape[1] + dim_body), np.float32)
    for t in np.unique(tracks):
        idx = np.nonzero(tracks == t)[0]
        face = embeddings[idx].mean(0)
        face /= max(float(np.linalg.norm(face)), 1e-12)
        body_list = [bodies[i] for i in idx if bodies[i] is not None]
        if body_list and dim_body and body_weight > 0:
            body = np.mean(body_list, axis=0)
            body /= max(float(np.linalg.norm(body)), 1e-12)
            vec = np.concatenate([np.sqrt(1 - body_weight) * face, np.sqrt(body_weight) * body])
        else:
            vec = np.concatenate([face, np.zeros(dim_body, np.float32)])
        out[idx] = vec
    return out
