"""No-reference frame quality metrics, measured at the film's own detail level so that the same film
delivered at 480p or as a 1080p upscale gets the same numbers.

Why a fixed working size is not enough: the Laplacian variance is dominated by the finest detail a picture
holds. A picture upsampled past its real detail has nothing at its finest scales, so its variance falls
steeply while the content is unchanged (measured on the Sintel trailer: median 164 at 480x204, 37 as a
1080p upscale, both at 512 px). The film's *detail size* is found per axis from its sharpest frames, in the
Fourier domain: for a ladder of sizes s (steps of 2^(1/4)), the power in the band just below s/2 cycles per
picture is compared with the band an octave lower and with 8-bit rounding noise. Real detail keeps a large
share from octave to octave (about 1 for natural pictures, 1/2 for hard edges) and stands well above
rounding noise; past what the source held, an interpolating upscaler and the codec leave only a floor.
Walking down from the top, the first two bands that pass both tests end the empty part: that size is the detail size, and frames are measured there (capped at WORK_SIZE on
the longer side). Grain or noise added after an upscale fills the empty bands and hides it.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import cv2
import numpy as np

WORK_SIZE = 512  # longest side measurements are made at, in pixels, for pictures with at least that much detail
PROBE_SIZE = 2 * WORK_SIZE  # longest side the detail size is searched at: enough to tell detail above WORK_SIZE
LADDER_STEP = 2 ** 0.25
SMALLEST = 48  # pixels: below this an axis says nothing about sharpness
OCTAVE = 4  # ladder steps
DETAIL_RATIO = 0.1  # octave ratio between real detail (1 for natural pictures, 1/2 for hard edges) and what an
# interpolating upscaler leaves past the source's detail (its stop band: about 1/100); their geometric mean
MIN_DETAIL_POWER = 16.0  # band power, in units of 8-bit rounding noise, that real detail exceeds (native clips'
# finest bands measured 49-2500); an upscale without a codec's dead zone leaves rounding noise there (1-2)


def gray_of(image_bgr: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY) if image_bgr.ndim == 3 else image_bgr


def probe_gray(image_bgr: np.ndarray) -> np.ndarray:
    """The frame's luma, reduced (never enlarged) to PROBE_SIZE on its longer side."""
    gray = gray_of(image_bgr)
    scale = PROBE_SIZE / max(gray.shape)
    if scale < 1:
        gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return gray


def ladder(length: int) -> list[int]:
    """Sizes from SMALLEST up to `length`, each 2^(1/4) larger than the last; `length` itself last."""
    sizes = [length]
    while sizes[-1] / LADDER_STEP >= SMALLEST:
        sizes.append(int(round(sizes[-1] / LADDER_STEP)))
    return sizes[::-1]


def _second_derivative_var(gray: np.ndarray, axis: int) -> float:
    d2 = np.diff(gray.astype(np.float32), n=2, axis=axis)
    return float(d2.var()) if d2.size else 0.0


def axis_power(gray: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Power spectrum of the (Hann-windowed) picture averaged across the other axis: (|frequency| in cycles
    per picture along `axis` (1: x, 0: y), power per bin in units of 8-bit rounding noise (white noise of
    variance 1/12 reads 1 everywhere))."""
    g = gray.astype(np.float64)
    h, w = g.shape
    window = np.outer(np.hanning(h), np.hanning(w))
    power = np.abs(np.fft.fft2((g - g.mean()) * window)) ** 2 / (window ** 2).sum() * 12
    n = g.shape[axis]
    return np.abs(np.fft.fftfreq(n) * n), power.mean(axis=1 - axis)


def band_powers(gray: np.ndarray, axis: int) -> tuple[list[int], np.ndarray]:
    """For each ladder size s of `axis`, the mean power in the band just below that size's Nyquist
    frequency, (s/2 / 2^(1/4), s/2] cycles per picture: what a picture s pixels long holds in its finest
    detail."""
    freq, power = axis_power(gray, axis)
    sizes = ladder(gray.shape[axis])
    return sizes, np.asarray([float(power[(freq > s / 2 / LADDER_STEP) & (freq <= s / 2)].mean()) for s in sizes])


def octave_ratios(powers: np.ndarray) -> np.ndarray:
    """Each band's power over that of the band an octave (four ladder steps) below it, times two (bands
    double in width over an octave: a natural picture's 1/f spectrum keeps its energy per band and reads
    1); the first four bands have none below and are left out."""
    return 2 * powers[OCTAVE:] / np.maximum(powers[:-OCTAVE], 1e-12)


def knee(sizes: Sequence[int], powers: np.ndarray, ratios: np.ndarray) -> int:
    """The largest size whose finest band still holds real detail: walking down from the top, the first
    where that band and the next one down both hold at least MIN_DETAIL_POWER and keep DETAIL_RATIO of
    the octave below (`ratios[j]` belongs to `sizes[j + OCTAVE]`). Two in a row, so that one band lifted
    by aliasing or a periodic texture does not count as detail."""
    def holds(k: int) -> bool:
        return powers[k] >= MIN_DETAIL_POWER and ratios[k - OCTAVE] >= DETAIL_RATIO

    for k in range(len(sizes) - 1, OCTAVE, -1):
        if holds(k) and holds(k - 1):
            return int(sizes[k])
    return int(sizes[min(OCTAVE, len(sizes) - 1)])


BAR_LEVEL = 24  # luma at or below which a border row or column that never lights up is a letterbox bar


def content_box(brightest: np.ndarray) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of the picture inside letterbox or pillarbox bars, from the film's
    brightest value per pixel: border rows and columns that stay black in every frame. Bars would add a
    hard edge that is no part of the picture."""
    h, w = brightest.shape
    rows = np.flatnonzero(brightest.max(axis=1) > BAR_LEVEL)
    cols = np.flatnonzero(brightest.max(axis=0) > BAR_LEVEL)
    if len(rows) < h / 2 or len(cols) < w / 2:
        return 0, 0, w, h
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


@dataclass(frozen=True)
class FilmDetail:
    """Where a film's picture and its real detail are, in pixels of the probe picture (the frame reduced to
    PROBE_SIZE): the content box inside any bars, and per axis the size the content's detail fills."""
    probe_width: int
    probe_height: int
    box: tuple[int, int, int, int]
    detail_width: int
    detail_height: int

    @property
    def working_size(self) -> tuple[int, int]:
        """(width, height) frames are measured at: per axis the detail size, but no more than the content box
        reduced to WORK_SIZE on its longer side (so a detailed film is measured as before, at 512 px)."""
        left, top, right, bottom = self.box
        scale = min(1.0, WORK_SIZE / max(right - left, bottom - top))
        return (max(1, min(self.detail_width, int(round((right - left) * scale)))),
                max(1, min(self.detail_height, int(round((bottom - top) * scale)))))

    @property
    def pixels_per_detail(self) -> float:
        """Content pixels per pixel of real detail (geometric mean of the axes): about 1.1-1.7 for a native
        render (anti-aliasing and compression soften the finest pixels), times the upscale factor for an
        upscaled delivery."""
        left, top, right, bottom = self.box
        return round(float(np.sqrt((right - left) / self.detail_width * (bottom - top) / self.detail_height)), 2)

    def working_gray(self, gray: np.ndarray) -> np.ndarray:
        """A probe picture's content, resized to the working size."""
        left, top, right, bottom = self.box
        return cv2.resize(gray[top:bottom, left:right], self.working_size, interpolation=cv2.INTER_AREA)

    def to_dict(self) -> dict:
        w, h = self.working_size
        return {"probe_size": [self.probe_width, self.probe_height], "content_box": list(self.box),
                "detail_size": [self.detail_width, self.detail_height], "working_size": [w, h],
                "pixels_per_detail": self.pixels_per_detail}


def sharpness_proxy(gray: np.ndarray) -> float:
    """Second-difference variance along both axes, as delivered: only to rank a film's frames for
    choosing the sharpest ones to estimate the detail size from."""
    return _second_derivative_var(gray, 0) + _second_derivative_var(gray, 1)


def film_detail(sharpest: Sequence[np.ndarray], box: tuple[int, int, int, int]) -> FilmDetail:
    """The detail size from a film's sharpest probe pictures (their content inside `box`): per axis, the
    knee of the median of their band powers. Softer frames would put the knee lower; the sharpest show
    what the delivery holds."""
    if not sharpest:
        raise ValueError("no frames to estimate the detail size from")
    h, w = sharpest[0].shape
    left, top, right, bottom = box
    crops = [g[top:bottom, left:right] for g in sharpest if g.shape == (h, w)]
    detail = []
    for axis in (1, 0):
        sizes = ladder(crops[0].shape[axis])
        if len(sizes) <= OCTAVE + 1:
            detail.append(crops[0].shape[axis])
            continue
        powers = np.median(np.asarray([band_powers(c, axis)[1] for c in crops]), axis=0)
        detail.append(knee(sizes, powers, octave_ratios(powers)))
    return FilmDetail(w, h, box, detail[0], detail[1])


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
    blur: float  # blur effect at the working size, 0 sharp .. 1 blurred
    brightness: float  # mean luma 0..255
    contrast: float  # luma standard deviation

    def to_dict(self) -> dict:
        return asdict(self)


def measure(image: np.ndarray) -> FrameQuality:
    """Metrics of one frame (BGR or luma) already at the working size (FilmDetail.working_gray)."""
    gray = gray_of(image)
    return FrameQuality(
        sharpness=round(float(cv2.Laplacian(gray, cv2.CV_32F).var()), 3),
        blur=round(blur_effect(gray), 4),
        brightness=round(float(gray.mean()), 3),
        contrast=round(float(gray.std()), 3),
    )


def broken_reason(q: FrameQuality, max_blur: float, min_brightness: float, max_brightness: float,
                  min_contrast: float) -> str | None:
    """Why a frame is unusable whatever the rest of the film looks like (black, washed out, flat, smeared),
    phrased for a person reading the manifest; None if it is usable."""
    if q.brightness < min_brightness:
        return f"too dark (brightness {q.brightness:.0f} < {min_brightness:g})"
    if q.brightness > max_brightness:
        return f"too bright (brightness {q.brightness:.0f} > {max_brightness:g})"
    if q.contrast < min_contrast:
        return f"low contrast ({q.contrast:.1f} < {min_contrast:g})"
    if q.blur > max_blur:
        return f"smeared (blur effect {q.blur:.2f} > {max_blur:g})"
    return None
