"""From sampled frames to curated frames, deciding the same for a film whatever its delivery resolution.

1. Every frame is measured at the film's working size, the level of its real detail (image/quality.py).
2. An absolute floor drops only broken frames: too dark, too bright, flat, smeared.
3. Near duplicates are removed across the whole film (the sharper frame stays).
4. Within each shot the rest are ranked by sharpness. A frame far softer than its shot's best (a whip pan,
   a focus pull) is dropped; the best `sampling.frames_per_shot` are kept even when the whole film is soft
   (an optional absolute `min_sharpness` applies only past them).
5. An optional cap keeps a diverse subset.
Every frame stays in the result with its metrics and the reason for its decision, kept or dropped.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import pandas as pd

from animproc.config import FilmConfig
from animproc.image.dedup import deduplicate, diverse_subset
from animproc.image.hashing import dhash, phash
from animproc.image.quality import (FilmDetail, FrameQuality, broken_reason, content_box, film_detail, measure, probe_gray,
                                    sharpness_proxy)
from animproc.progress import NO_PROGRESS, Progress

MAX_DETAIL_FRAMES = 64  # sharpest frames the detail size is estimated from: their median is stable by then


@dataclass(frozen=True)
class Curation:
    frames: pd.DataFrame  # the manifest with metrics and decisions
    detail: FilmDetail | None  # None when there were no frames
    warning: str | None  # set when the filter drops more than `quality.starved_share` of the frames


def _probe(load_bgr: Callable[[int], np.ndarray], pos: int, shape: tuple[int, int] | None) -> np.ndarray:
    gray = probe_gray(load_bgr(pos))
    if shape is not None and gray.shape != shape:
        gray = cv2.resize(gray, shape[::-1], interpolation=cv2.INTER_AREA)
    return gray


def estimate_detail(count: int, load_bgr: Callable[[int], np.ndarray], min_contrast: float,
                    progress: Progress = NO_PROGRESS) -> FilmDetail:
    """The film's detail size from its sharpest non-flat frames (a quarter, 3 to MAX_DETAIL_FRAMES of them)."""
    shape, brightest, proxies = None, None, []
    task = progress.task("detail", count, "frames")
    for pos in range(count):
        gray = _probe(load_bgr, pos, shape)
        shape = gray.shape
        brightest = gray.copy() if brightest is None else np.maximum(brightest, gray)
        proxies.append(sharpness_proxy(gray) if gray.std() >= min_contrast else -1.0)
        task.update(pos + 1)
    task.finish()
    box = content_box(brightest)
    take = min(MAX_DETAIL_FRAMES, max(3, int(np.ceil(count / 4))))
    best = [int(i) for i in np.argsort(-np.asarray(proxies), kind="stable")[:take]]
    return film_detail([_probe(load_bgr, i, shape) for i in best], box)


def _rank_in_shots(out: pd.DataFrame, reasons: list[str | None], metrics: list[FrameQuality], config: FilmConfig
                   ) -> tuple[list[str | None], list[int | None], list[float | None]]:
    """Keep or drop each usable frame by its sharpness within its shot: ratios between frames of one shot
    measured at one working size, so the same whatever the delivery. Returns keep reasons, ranks and the
    share of the shot's best sharpness, and fills `reasons` for the frames dropped here."""
    n, q = config.sampling.frames_per_shot, config.quality
    keep: list[str | None] = [None] * len(out)
    ranks: list[int | None] = [None] * len(out)
    relative: list[float | None] = [None] * len(out)
    usable = [i for i, r in enumerate(reasons) if r is None]
    for shot, members in pd.Series(usable, dtype=int).groupby(out.loc[usable, "shot_id"].to_numpy()):
        order = sorted(members, key=lambda i: -metrics[i].sharpness)
        best = max(metrics[order[0]].sharpness, 1e-9)
        for rank, i in enumerate(order, 1):
            sharpness = metrics[i].sharpness
            ranks[i], relative[i] = rank, round(sharpness / best, 4)
            below_floor = q.min_sharpness is not None and sharpness < q.min_sharpness
            where = f"rank {rank} of {len(order)} in shot {shot}"
            if rank > 1 and relative[i] < q.shot_relative_sharpness:
                reasons[i] = (f"soft for its shot ({relative[i]:.0%} of the shot's best sharpness < "
                              f"{q.shot_relative_sharpness:.0%}; {where})")
            elif rank <= n:
                keep[i] = f"{where}: one of the shot's best {n}" + (
                    f", kept although below min_sharpness (Laplacian variance {sharpness:.0f} < {q.min_sharpness:g})"
                    if below_floor else "")
            elif below_floor:
                reasons[i] = f"not sharp (Laplacian variance {sharpness:.0f} < min_sharpness {q.min_sharpness:g}; {where})"
            else:
                keep[i] = f"{where}: {relative[i]:.0%} of the shot's best sharpness"
    return keep, ranks, relative


def curate(frames: pd.DataFrame, load_bgr: Callable[[int], np.ndarray], config: FilmConfig,
           progress: Progress = NO_PROGRESS) -> Curation:
    """`frames` is the frames manifest (with shot_id and frame_index); `load_bgr(row_position)` returns that
    frame's image. Each image is read twice, and the sharpest few a third time, so memory does not grow
    with the film; `progress` hears of both passes ("detail", "measure")."""
    q, d = config.quality, config.dedup
    out = frames.reset_index(drop=True).copy()
    detail = estimate_detail(len(out), load_bgr, q.min_contrast, progress) if len(out) else None
    metrics, ph, dh, thumbs = [], [], [], {}
    shape = (detail.probe_height, detail.probe_width) if detail else None
    task = progress.task("measure", len(out), "frames")
    for pos in range(len(out)):
        gray = detail.working_gray(_probe(load_bgr, pos, shape))
        metrics.append(measure(gray))
        ph.append(phash(gray))
        dh.append(dhash(gray))
        thumbs[pos] = cv2.resize(gray, (128, max(1, 128 * gray.shape[0] // gray.shape[1])), interpolation=cv2.INTER_AREA)
        task.update(pos + 1)
    task.finish()
    for col in ("sharpness", "blur", "brightness", "contrast"):
        out[col] = pd.Series([getattr(m, col) for m in metrics], dtype=float)
    out["phash"] = [f"{h:016x}" for h in ph]
    out["dhash"] = [f"{h:016x}" for h in dh]
    sharp = [m.sharpness for m in metrics]
    reasons = [broken_reason(m, q.max_blur, q.min_brightness, q.max_brightness, q.min_contrast) for m in metrics]
    duplicate_of: list[int | None] = [None] * len(out)
    passing = [i for i, r in enumerate(reasons) if r is None]
    decisions = deduplicate([ph[i] for i in passing], [dh[i] for i in passing], [sharp[i] for i in passing],
                            lambda k: thumbs[passing[k]], d.hash_distance, d.borderline_distance, d.ssim_threshold)
    for k, dec in zip(passing, decisions):
        if not dec.keep:
            duplicate_of[k] = int(out.loc[passing[dec.duplicate_of], "frame_index"])
            how = f"hash distance {dec.distance}" + (f", SSIM {dec.ssim:.3f}" if dec.ssim is not None else "")
            reasons[k] = f"near duplicate of frame {duplicate_of[k]} ({how})"
    keep, ranks, relative = _rank_in_shots(out, reasons, metrics, config)
    survivors = [i for i, r in enumerate(reasons) if r is None]
    if d.max_frames is not None and len(survivors) > d.max_frames:
        chosen = set(diverse_subset([ph[i] for i in survivors], out.loc[survivors, "shot_id"].tolist(),
                                    [sharp[i] for i in survivors], d.max_frames))
        for k, i in enumerate(survivors):
            if k not in chosen:
                reasons[i], keep[i] = f"not needed for diversity (cap of {d.max_frames} frames)", None
    out["kept"] = [r is None for r in reasons]
    out["drop_reason"] = reasons
    out["keep_reason"] = keep
    out["shot_rank"] = pd.array(ranks, dtype="Int64")
    out["relative_sharpness"] = pd.Series(relative, dtype=float)
    out["duplicate_of"] = pd.array(duplicate_of, dtype="Int64")
    return Curation(out, detail, starvation_warning(out, config))


def curate_frames(frames: pd.DataFrame, load_bgr: Callable[[int], np.ndarray], config: FilmConfig) -> pd.DataFrame:
    """The curated manifest alone (see `curate`)."""
    return curate(frames, load_bgr, config).frames


_SETTING = {"too dark": "quality.min_brightness", "too bright": "quality.max_brightness",
            "low contrast": "quality.min_contrast", "smeared": "quality.max_blur",
            "soft for its shot": "quality.shot_relative_sharpness", "not sharp": "quality.min_sharpness",
}


def reason_kind(reason: str) -> str:
    """A drop reason without its numbers: 'too dark', 'near duplicate of frame', ..."""
    kind = reason.split(" (")[0]
    return "near duplicate of frame" if kind.startswith("near duplicate of frame") else kind


def starvation_warning(curated: pd.DataFrame, config: FilmConfig) -> str | None:
    """A sentence for the asset's metadata and the CLI when the quality checks (duplicates and the diversity
    cap aside: they lose no content) drop more than `quality.starved_share` of the sampled frames: how many,
    the setting behind most of them and its value, and what was kept instead."""
    kinds = [reason_kind(r) for r in curated["drop_reason"].dropna()]
    rejected = [k for k in kinds if k not in ("near duplicate of frame", "not needed for diversity")]
    total = len(curated)
    if total == 0 or len(rejected) / total <= config.quality.starved_share:
        return None
    causes = []
    for kind, count in Counter(rejected).most_common():
        setting = _SETTING.get(kind, kind)
        section, key = setting.split(".")
        causes.append(f"{count} as '{kind}' ({setting} = {getattr(getattr(config, section), key)})")
    shots = curated.groupby("shot_id")["kept"].any()
    rescued = int(curated["keep_reason"].fillna("").str.contains("below min_sharpness").sum())
    n = config.sampling.frames_per_shot
    if rescued:
        instead = (f"kept instead: each shot's best {n} usable frames, {rescued} of them below min_sharpness; "
                   f"{int(shots.sum())} of {len(shots)} shots keep frames")
    else:
        instead = (f"each shot still keeps its best {n} usable frames: {int(shots.sum())} of {len(shots)} shots "
                   f"keep frames")
    empty = [str(s) for s, ok in shots.items() if not ok]
    if empty:
        instead += (f"; nothing usable in shot{'s' if len(empty) > 1 else ''} {', '.join(empty[:10])}"
                    f"{' ...' if len(empty) > 10 else ''} (absolute floors: change the setting if the film is meant "
                    f"to look so)")
    return (f"quality checks dropped {len(rejected)} of {total} sampled frames ({len(rejected) / total:.0%} > "
            f"{config.quality.starved_share:.0%}): {', '.join(causes)}; {instead}")
