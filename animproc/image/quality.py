"""No-reference frame quality metrics, computed at a fixed working size so thresholds mean the same on
every film whatever its resolution."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

WORK_SIZE = 512  # longer side, in pixels


def working_gray(image_bgr: np.ndarray) -> np.ndarray:
    gray = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY) if image_bgr.ndim == 3 else image_bgr
    scale = WORK_SIZE / max(gray.shape)
    if scale < 1:
        gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return gray


def blur_effect(gray: np.ndarray, size: int = 11) -> float:
    """Crété-Roffet et al. (2007) blur measure, 0 (sharp) to 1 (blurred): how much of the image's
    local variation survives a further blur. Motion blur and defocus both raise it; flat images are
    handled by the separate contrast metric."""
    img = gray.astype(np.float32)
    scores = []
    for axis in (0, 1):
        kernel = (size, 1) if axis == 0 else (1, size)
        blurred = cv2.blur(img, kernel[::-1])
        d_img = np.abs(np.diff(img, axis=axis))
        d_blur = np.abs(np.diff(blurred, axis=axis))
        total = float(d_img.sum())
        if total <= 1e-6:
            scores.append(1.0)
            continue
        scores.append(float((total - np.maximum(0, d_img - d_blur).sum()) / total))
    return max(scores)


@dataclass(frozen=True)
class FrameQuality:
    sharpness: float  # Laplacian variance at the working size
    blur: float  # blur effect, 0 sharp .. 1 blurred
    brightness: float  # mean luma 0..255
    contrast: float  # luma standard deviation

    def to_dict(self) -> dict:
        return asdict(self)


def measure(image_bgr: np.ndarray) -> FrameQuality:
    gray = working_gray(image_bgr)
    return FrameQuality(
        sharpness=round(float(cv2.Laplacian(gray, cv2.CV_32F).var()), 3),
        blur=round(blur_effect(gray), 4),
        brightness=round(float(gray.mean()), 3),
        contrast=round(float(gray.std()), 3),
    )


def rejection_reason(q: FrameQuality, min_sharpness: float, max_blur: float, min_brightness: float,
                     max_brightness: float, min_contrast: float) -> str | None:
    """The first failed check, phrased for a person reading the manifest, or None if the frame passes."""
    if q.brightness < min_brightness:
        return f"too dark (brightness {q.brightness:.0f} < {min_brightness:g})"
    if q.brightness > max_brightness:
        return f"too bright (brightness {q.brightness:.0f} > {max_brightness:g})"
    if q.contrast < min_contrast:
        return f"low contrast ({q.contrast:.1f} < {min_contrast:g})"
    if q.sharpness < min_sharpness:
        return f"not sharp (Laplacian variance {q.sharpness:.0f} < {min_sharpness:g})"
    if q.blur > max_blur:
        return f"blurred (blur effect {q.blur:.2f} > {max_blur:g})"
    return None
