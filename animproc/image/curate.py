"""From sampled frames to curated frames: quality filter, film-wide near-duplicate removal, and an
optional diversity-keeping cap. Every frame stays in the result with its metrics and, if dropped, why."""
from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import pandas as pd

from animproc.config import FilmConfig
from animproc.image.dedup import deduplicate, diverse_subset
from animproc.image.hashing import dhash, phash
from animproc.image.quality import FrameQuality, measure, rejection_reason, working_gray


def curate_frames(frames: pd.DataFrame, load_bgr: Callable[[int], np.ndarray], config: FilmConfig) -> pd.DataFrame:
    """`frames` is the frames manifest; `load_bgr(row_position)` returns that frame's image.

    Returns the manifest with columns sharpness, blur, brightness, contrast, phash, dhash, kept,
    drop_reason and duplicate_of (the frame index of the kept frame a duplicate resembles)."""
    q, d = config.quality, config.dedup
    out = frames.reset_index(drop=True).copy()
    metrics, ph, dh, thumbs = [], [], [], {}
    for pos in range(len(out)):
        img = load_bgr(pos)
        metrics.append(measure(img).to_dict())
        gray = working_gray(img)
        ph.append(phash(gray))
        dh.append(dhash(gray))
        thumbs[pos] = cv2.resize(gray, (128, 128 * gray.shape[0] // gray.shape[1] or 1), interpolation=cv2.INTER_AREA)
    cols = ["sharpness", "blur", "brightness", "contrast"]
    for col in cols:
        out[col] = [m[col] for m in metrics] if metrics else pd.Series(dtype=float)
    out["phash"] = [f"{h:016x}" for h in ph]
    out["dhash"] = [f"{h:016x}" for h in dh]
    reasons: list[str | None] = [
        rejection_reason(FrameQuality(**m), q.min_sharpness, q.max_blur, q.min_brightness, q.max_brightness,
                         q.min_contrast)
        for m in metrics
    ]
    duplicate_of: list[int | None] = [None] * len(out)
    passing = [i for i, r in enumerate(reasons) if r is None]
    decisions = deduplicate([ph[i] for i in passing], [dh[i] for i in passing],
                            [metrics[i]["sharpness"] for i in passing], lambda k: thumbs[passing[k]],
                            d.hash_distance, d.borderline_distance, d.ssim_threshold)
    for k, dec in zip(passing, decisions):
        if not dec.keep:
            other = passing[dec.duplicate_of]
            duplicate_of[k] = int(out.loc[other, "frame_index"])
            how = f"hash distance {dec.distance}" + (f", SSIM {dec.ssim:.3f}" if dec.ssim is not None else "")
            reasons[k] = f"near duplicate of frame {duplicate_of[k]} ({how})"
    survivors = [i for i, r in enumerate(reasons) if r is None]
    if d.max_frames is not None and len(survivors) > d.max_frames:
        chosen = set(diverse_subset([ph[i] for i in survivors], out.loc[survivors, "shot_id"].tolist(),
                                    [metrics[i]["sharpness"] for i in survivors], d.max_frames))
        for k, i in enumerate(survivors):
            if k not in chosen:
                reasons[i] = f"not needed for diversity (cap of {d.max_frames} frames)"
    out["kept"] = [r is None for r in reasons]
    out["drop_reason"] = reasons
    out["duplicate_of"] = pd.array(duplicate_of, dtype="Int64")
    return out
