"""What the embedded active-speaker backend reads from a face: how far the mouth is open (MediaPipe's
468-point face mesh, the `face_landmark.tflite` the mediapipe wheel ships, run with LiteRT), and, for faces the
mesh does not fit (stylised or tiny ones), the motion energy of the lower third of the face box against the
upper part, which moves with the head but not with the mouth."""
from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

MESH_SIZE = 192
UPPER_LIP, LOWER_LIP, FOREHEAD, CHIN = 13, 14, 10, 152
# One row of visual features per face and step: the mouth opening (face heights, NaN where the mesh gave
# nothing), the mesh's face presence (0-1), and the motion energy (mean absolute grey difference to the frame
# before, 0-255) of the face's lower third and of its upper half.
FEATURES = ("opening", "presence", "lower_energy", "upper_energy")


def mesh_model_path() -> Path | None:
    """The face-mesh model inside the installed mediapipe package folder (its runtime is never imported)."""
    spec = importlib.util.find_spec("mediapipe")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "modules" / "face_landmark" / "face_landmark.tflite"
    return path if path.exists() else None


@lru_cache(maxsize=1)
def _mesh_interpreter(path: str):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=path, num_threads=1)
    interpreter.allocate_tensors()
    return interpreter


def face_square(box: tuple[float, float, float, float], scale: float = 1.5) -> tuple[float, float, float]:
    """The square the mesh is run on: centre x, centre y and side, `scale` times the face box's larger side."""
    x0, y0, x1, y1 = box
    return (x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0) * scale


def square_crop(bgr: np.ndarray, square: tuple[float, float, float], size: int) -> np.ndarray:
    """The square resampled to size x size pixels (outside the picture: edge pixels)."""
    cx, cy, side = square
    k = size / max(side, 1.0)
    m = np.float32([[k, 0, size / 2 - cx * k], [0, k, size / 2 - cy * k]])
    return cv2.warpAffine(bgr, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


class FaceMesh:
    """MediaPipe face mesh on one face: the mouth opening in face heights and the face presence score."""

    def __init__(self, path: Path):
        self.interpreter = _mesh_interpreter(str(path))
        self.input = self.interpreter.get_input_details()[0]["index"]
        outputs = self.interpreter.get_output_details()
        self.landmarks = next(o["index"] for o in outputs if o["shape"][-1] == 1404)
        self.presence = next(o["index"] for o in outputs if o["shape"][-1] == 1)

    def points(self, bgr: np.ndarray, square: tuple[float, float, float]) -> tuple[np.ndarray, float]:
        """The 468 mesh points (x, y in pixels of the MESH_SIZE crop, z on the same scale) and the presence."""
        crop = square_crop(bgr, square, MESH_SIZE)[..., ::-1].astype(np.float32) / 255.0
        self.interpreter.set_tensor(self.input, crop[None])
        self.interpreter.invoke()
        points = self.interpreter.get_tensor(self.landmarks).reshape(468, 3).copy()
        presence = float(1 / (1 + np.exp(-float(self.interpreter.get_tensor(self.presence).reshape(-1)[0]))))
        return points, presence

    def opening(self, bgr: np.ndarray, square: tuple[float, float, float]) -> tuple[float, float]:
        points, presence = self.points(bgr, square)
        height = float(np.linalg.norm(points[FOREHEAD, :2] - points[CHIN, :2]))
        if height < 1.0:
            return float("nan"), presence
        return float(np.linalg.norm(points[UPPER_LIP, :2] - points[LOWER_LIP, :2]) / height), presence


def region_energy(frame: np.ndarray, previous: np.ndarray, box: tuple[float, float, float, float]) -> tuple[float, float]:
    """Mean absolute grey-level change since the frame before in the lower third of the face box and in its
    upper half (the head moving moves both; the mouth only the lower)."""
    h, w = frame.shape[:2]
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    x0, x1, y0, y1 = max(0, x0), min(w, x1), max(0, y0), min(h, y1)
    if x1 - x0 < 2 or y1 - y0 < 3:
        return 0.0, 0.0
    now = cv2.cvtColor(frame[y0:y1, x0:x1], cv2.COLOR_BGR2GRAY).astype(np.float32)
    before = cv2.cvtColor(previous[y0:y1, x0:x1], cv2.COLOR_BGR2GRAY).astype(np.float32)
    diff = np.abs(now - before)
    rows = diff.shape[0]
    return float(diff[2 * rows // 3:].mean()), float(diff[:rows // 2].mean())


def mouth_features(mesh: FaceMesh | None, frame: np.ndarray, previous: np.ndarray,
                   box: tuple[float, float, float, float]) -> np.ndarray:
    """One row of `FEATURES` for a face box in a frame and the frame before it."""
    lower, upper = region_energy(frame, previous, box)
    if mesh is None:
        return np.array([np.nan, 0.0, lower, upper], np.float32)
    opening, presence = mesh.opening(frame, face_square(box))
    return np.array([opening, presence, lower, upper], np.float32)
