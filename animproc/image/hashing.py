"""Perceptual hashes (pHash, dHash, computed by `imagehash`) as 64-bit integers, Hamming distances in bulk
(numpy, a whole film's pairs at once), and SSIM."""
from __future__ import annotations

import cv2
import imagehash
import numpy as np
from PIL import Image

_BITS = np.array([1 << i for i in range(64)], dtype=np.uint64)


def _pack(bits: np.ndarray) -> int:
    return int((bits.reshape(-1).astype(np.uint64) * _BITS).sum())


def phash(gray: np.ndarray) -> int:
    """DCT hash (imagehash.phash): the 8x8 lowest frequencies of a 32x32 image against their median."""
    return _pack(imagehash.phash(Image.fromarray(gray)).hash)


def dhash(gray: np.ndarray) -> int:
    """Gradient hash (imagehash.dhash): whether each of 8x8 cells is brighter than its right neighbour."""
    return _pack(imagehash.dhash(Image.fromarray(gray)).hash)


def hamming_matrix(a: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """Pairwise Hamming distances between two arrays of uint64 hashes (a x b, uint8)."""
    b = a if b is None else b
    x = np.bitwise_xor(a[:, None], b[None, :])
    return np.bitwise_count(x).astype(np.uint8)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean structural similarity (Wang et al. 2004, Gaussian window 11, sigma 1.5) of two gray images."""
    if a.shape != b.shape:
        b = cv2.resize(b, (a.shape[1], a.shape[0]), interpolation=cv2.INTER_AREA)
    x, y = a.astype(np.float32), b.astype(np.float32)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    blur = lambda m: cv2.GaussianBlur(m, (11, 11), 1.5)  # noqa: E731
    mx, my = blur(x), blur(y)
    sxx, syy, sxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    num = (2 * mx * my + c1) * (2 * sxy + c2)
    den = (mx * mx + my * my + c1) * (sxx + syy + c2)
    return float((num / den).mean())
