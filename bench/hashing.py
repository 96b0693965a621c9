"""pHash / dHash by `imagehash` against the hand-written OpenCV hashes it replaced, on real frames: how many
of the film-wide dedup decisions agree (default thresholds), and the cost per frame.

    PYTHONPATH=. python bench/hashing.py
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import av
import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from media import SHARED  # noqa: E402

CLIPS = [SHARED / "sintel_trailer" / "sintel.mp4", SHARED / "caminandes_llama" / "clip_02_caminandes.mp4"]
_BITS = np.array([1 << i for i in range(64)], dtype=np.uint64)


def _pack(bits: np.ndarray) -> int:
    return int((bits.reshape(-1).astype(np.uint64) * _BITS).sum())


def opencv_phash(gray: np.ndarray) -> int:  # the former animproc.image.hashing.phash
    low = cv2.dct(cv2.resize(gray, (32, 32), interpolation=cv2.INTER_AREA).astype(np.float32))[:8, :8]
    return _pack(low > np.median(low.reshape(-1)[1:]))


def opencv_dhash(gray: np.ndarray) -> int:  # the former animproc.image.hashing.dhash
    small = cv2.resize(gray, (9, 8), interpolation=cv2.INTER_AREA).astype(np.int16)
    return _pack(small[:, 1:] > small[:, :-1])


def working_gray(bgr: np.ndarray, size: int = 512) -> np.ndarray:
    """Luma at 512 px on the longer side, as frames were measured before the detail-size rule."""
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    scale = min(1.0, size / max(gray.shape))
    return cv2.resize(gray, (max(1, round(gray.shape[1] * scale)), max(1, round(gray.shape[0] * scale))),
                      interpolation=cv2.INTER_AREA)


def frames(path: Path, every_s: float = 0.25) -> list[np.ndarray]:
    out, next_t = [], 0.0
    with av.open(str(path)) as c:
        for f in c.decode(video=0):
            if f.time is not None and f.time >= next_t:
                out.append(working_gray(f.to_ndarray(format="bgr24")))
                next_t += every_s
    return out


def main() -> None:
    from animproc.config import DedupConfig
    from animproc.image.dedup import deduplicate
    from animproc.image.hashing import dhash, phash

    d = DedupConfig()
    for clip in CLIPS:
        grays = frames(clip)
        thumbs = [cv2.resize(g, (128, 128 * g.shape[0] // g.shape[1]), interpolation=cv2.INTER_AREA) for g in grays]
        quality = [float(cv2.Laplacian(g, cv2.CV_64F).var()) for g in grays]
        result = {}
        for name, ph, dh in (("opencv", opencv_phash, opencv_dhash), ("imagehash", phash, dhash)):
            t = time.perf_counter()
            hashes = [(ph(g), dh(g)) for g in grays]
            cost = (time.perf_counter() - t) / len(grays)
            kept = [x.keep for x in deduplicate([h[0] for h in hashes], [h[1] for h in hashes], quality,
                                                lambda k: thumbs[k], d.hash_distance, d.borderline_distance,
                                                d.ssim_threshold)]
            result[name] = (kept, cost)
        a, b = result["opencv"][0], result["imagehash"][0]
        same = sum(x == y for x, y in zip(a, b))
        print(f"{clip.name}: {len(grays)} frames ({grays[0].shape[1]}x{grays[0].shape[0]}), kept opencv {sum(a)} / "
              f"imagehash {sum(b)}, same decision {same}/{len(a)} ({same / len(a):.1%}); ms per frame "
              f"opencv {1e3 * result['opencv'][1]:.2f}, imagehash {1e3 * result['imagehash'][1]:.2f}")


if __name__ == "__main__":
    main()
