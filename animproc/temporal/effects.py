"""Visual-effects catalogue from measurable per-frame signals, one reduced decode pass.

Each signal is scaled to an intensity in 0..1 (0.5 is where it starts to count, `effect_threshold`):
- lighting: `glow` (bloom: bright cores with a soft bright halo), `flash` (luminance jump over the last
  second), `coloured_light` (a large share of bright, saturated pixels);
- particles: small bright blobs (white top-hat) that move between samples: `snow` / `dust` (pale), `sparks`
  (warm, saturated), `rain` (elongated, one orientation); `weather` when particles cover most of the
  picture over time;
- camera: `depth_of_field` (sharp tiles beside blurred ones, or characters sharper than their background
  when their boxes are known), `motion_blur` (gradients aligned one way and weak), `lens_flare` (bright
  blobs on a line through the picture's centre), and fades / dissolves from the shot transitions;
- `transformation`: a tracked character whose colours change fast while its box stays put.
Consecutive samples above the threshold within a shot become one catalogue entry."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import av
import cv2
import numpy as np
import pandas as pd

from animproc.errors import MediaError
from animproc.media import Cadence, analysis_frames, nearest_in, open_media, reduced_bgr, reduced_height
from animproc.progress import NO_PROGRESS, Progress
from animproc.temporal.tracks import appearance
from animproc.video.shots import shot_position

CATEGORIES = {"glow": "lighting", "flash": "lighting", "coloured_light": "lighting", "snow": "particles",
              "dust": "particles", "sparks": "particles", "rain": "particles", "weather": "weather",
              "depth_of_field": "camera", "motion_blur": "camera", "lens_flare": "camera", "fade": "camera",
              "dissolve": "camera", "transformation": "transformation"}


def _clip01(x: float) -> float:
    return float(np.clip(x, 0.0, 1.0))


@dataclass
class ParticleState:
    previous: np.ndarray | None = None  # binary map of the last sample's particles


def _glow(v: np.ndarray) -> float:
    """Light sources (bright cores smaller than 2 % of the picture, not a bright sky) whose surroundings are
    lifted by a halo: the halo's brightness above the ring beyond it, times the halo's extent."""
    h, w = v.shape
    bright = (v > 0.92).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(bright)
    keep = np.zeros(n, bool)
    keep[1:] = stats[1:, 4] <= 0.02 * h * w
    cores = keep[labels].astype(np.uint8)
    if not cores.any():
        return 0.0
    r = max(3, w // 50)
    disk = lambda k: cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k * r + 1, 2 * k * r + 1))  # noqa: E731
    near, far = cv2.dilate(cores, disk(1)) > 0, cv2.dilate(cores, disk(3)) > 0
    halo, ring = near & (cores == 0), far & ~near & (bright == 0)
    if not halo.any() or not ring.any():
        return 0.0
    lift = float(v[halo].mean() - v[ring].mean())
    return _clip01((lift - 0.1) / 0.2) * _clip01(halo.mean() / 0.003)


def lighting(bgr: np.ndarray, recent_luma: list[float]) -> dict[str, float]:
    hsv = cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV).astype(np.float32) / np.array([180, 255, 255], np.float32)
    v, s = hsv[..., 2], hsv[..., 1]
    luma = float(v.mean())
    glow = _glow(v)
    flash = 0.0
    if len(recent_luma) >= 2:
        base = float(np.median(recent_luma))
        flash = _clip01((luma - base) / max(0.3 * (1 - base), 0.05) * 0.5)
    coloured = _clip01(((s > 0.6) & (v > 0.7)).mean() / 0.3)
    return {"glow": glow, "flash": flash, "coloured_light": coloured, "luma": luma}


def particles(bgr: np.ndarray, state: ParticleState, gray: np.ndarray | None = None,
              hsv: np.ndarray | None = None) -> dict[str, float]:
    """Small bright blobs and how many of them moved since the last sample, per 100k pixels. `gray` / `hsv`:
    the picture's conversions when the caller has them already."""
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY) if gray is None else gray
    h, w = gray.shape
    k = max(5, (w // 120) | 1)
    tophat = cv2.morphologyEx(gray, cv2.MORPH_TOPHAT, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    blobs = (tophat > 30).astype(np.uint8)
    n, labels, stats, centroids = cv2.connectedComponentsWithStats(blobs)
    max_area = (k * k) // 2
    # a particle stands alone on a smoother background; highlights in fur, grass or gravel come in crowds
    busy = cv2.blur((tophat > 12).astype(np.float32), (4 * k + 1, 4 * k + 1))
    centre = centroids[1:].astype(int)
    keep = np.zeros(n, bool)
    keep[1:] = (stats[1:, 4] <= max_area) & (busy[centre[:, 1], centre[:, 0]] < 0.12)
    if not keep.any():
        state.previous = np.zeros_like(blobs)
        return {"snow": 0.0, "dust": 0.0, "sparks": 0.0, "rain": 0.0, "particle_cover": 0.0, "particles": 0}
    mask = keep[labels]
    moved = mask
    if state.previous is not None and state.previous.shape == mask.shape:
        still = cv2.dilate(state.previous.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        moved = mask & ~still
    state.previous = mask
    moving_ids = np.unique(labels[moved])
    moving_ids = moving_ids[moving_ids > 0]
    density = len(moving_ids) / (h * w) * 1e5
    sat = hue = 0.0
    if moved.any():
        hsv = cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV) if hsv is None else hsv
        sat = float(np.median(hsv[..., 1][moved])) / 255
        hue = float(np.median(hsv[..., 0][moved]))
    sides = stats[moving_ids, 2:4]
    elongated = float(np.mean(sides.max(1) >= 3 * np.maximum(1, sides.min(1)))) if len(moving_ids) else 0.0
    grid = np.zeros((3, 3), bool)
    grid[np.minimum(2, 3 * stats[moving_ids, 1] // h), np.minimum(2, 3 * stats[moving_ids, 0] // w)] = True
    amount = _clip01(density / 40.0)
    warm = sat > 0.45 and (hue < 30 or hue > 165)
    pale = sat < 0.25
    return {"snow": amount if pale and elongated < 0.5 else 0.0, "dust": 0.5 * amount if not pale and not warm else 0.0,
            "sparks": amount if warm else 0.0, "rain": amount if elongated >= 0.5 else 0.0,
            "particle_cover": float(grid.mean()), "particles": int(len(moving_ids))}


def _tile_stats(gray: np.ndarray, rows: int, cols: int, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per tile of a rows x cols grid (tile edges at i * h // rows, as slicing would cut them): the standard
    deviation of `gray` and the mean of `values` (float32 images), as (rows, cols) arrays, from band sums."""
    h, w = gray.shape
    ys, xs = np.arange(rows) * h // rows, np.arange(cols) * w // cols
    counts = np.outer(np.diff(np.append(ys, h)), np.diff(np.append(xs, w))).astype(np.float64)

    def sums(a: np.ndarray) -> np.ndarray:
        return np.add.reduceat(np.add.reduceat(a, ys, axis=0), xs, axis=1, dtype=np.float64)

    mean = sums(gray) / counts
    std = np.sqrt(np.maximum(sums(gray * gray) / counts - mean ** 2, 0.0))
    return std, sums(values) / counts


def camera_effects(bgr: np.ndarray, subjects: list[np.ndarray] | None = None,
                   gray: np.ndarray | None = None) -> dict[str, float]:
    gray = (cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY) if gray is None else gray).astype(np.float32)
    h, w = gray.shape
    lap = np.abs(cv2.Laplacian(gray, cv2.CV_32F))
    spread, sharpness = _tile_stats(gray, 6, 8, lap)
    tiles = sharpness[spread >= 6].tolist()  # a flat sky is not out of focus
    dof = 0.0
    if subjects:
        inside = np.zeros((h, w), bool)
        for b in subjects:
            x0, y0, x1, y1 = np.clip(np.round(b).astype(int), 0, [w, h, w, h])
            inside[y0:y1, x0:x1] = True
        if 0.02 < inside.mean() < 0.8:
            ratio = (lap[inside].mean() + 1e-3) / (lap[~inside].mean() + 1e-3)
            dof = _clip01((np.log2(ratio) - 0.5) / 2.0)
    elif len(tiles) >= 8:
        p90, p30 = np.percentile(tiles, 90), np.percentile(tiles, 30)
        dof = _clip01((np.log2((p90 + 1e-3) / (p30 + 1e-3)) - 1.5) / 2.5)
    gx, gy = cv2.Sobel(gray, cv2.CV_32F, 1, 0), cv2.Sobel(gray, cv2.CV_32F, 0, 1)
    jxx, jyy, jxy = float((gx * gx).mean()), float((gy * gy).mean()), float((gx * gy).mean())
    coherence = np.sqrt((jxx - jyy) ** 2 + 4 * jxy ** 2) / max(jxx + jyy, 1e-6)
    weak = _clip01(1 - float(lap.mean()) / 12.0)
    blur = _clip01((coherence - 0.3) / 0.4) * weak
    return {"depth_of_field": dof, "motion_blur": blur}


def lens_flare(gray: np.ndarray) -> float:
    """Bright blobs (ghosts) lined up with the brightest one through the picture's centre."""
    h, w = gray.shape
    bright = (gray > 0.85 * 255).astype(np.uint8)
    n, _, stats, centroids = cv2.connectedComponentsWithStats(bright)
    blobs = [i for i in range(1, n) if 0.0003 * h * w <= stats[i, 4] <= 0.03 * h * w]
    if len(blobs) < 3:
        return 0.0
    source = max(blobs, key=lambda i: stats[i, 4])
    axis = np.array([w / 2, h / 2]) - centroids[source]
    if np.linalg.norm(axis) < 0.1 * w:
        return 0.0
    axis /= np.linalg.norm(axis)
    lined = 0
    for i in blobs:
        if i == source:
            continue
        d = centroids[i] - centroids[source]
        if np.linalg.norm(d) > 0 and abs(float(np.cross(axis, d / np.linalg.norm(d)))) < 0.2:
            lined += 1
    return _clip01((lined - 1) / 3)


@dataclass
class EffectsScan:
    samples: list[dict] = field(default_factory=list)  # per sampled frame: frame_index, time, shot_id, scores
    thumbnails: dict[int, np.ndarray] = field(default_factory=dict)  # frame index -> small BGR image
    # per track: (frame index, time, box, hue-saturation histogram) about once a second, for transformation_scores
    track_colours: dict[str, list[tuple[int, float, np.ndarray, np.ndarray]]] = field(default_factory=dict)


def scan_effects(path, shots: pd.DataFrame, fps: float, effects_fps: float, width: int,
                 subjects: dict[int, list[tuple[str, np.ndarray]]] | None = None,
                 threshold: float = 0.5, progress: Progress = NO_PROGRESS) -> EffectsScan:
    """Signals on frames sampled `effects_fps` times a second at `width` (particles, focus, blur) and half of it
    (lighting, flares). `subjects`: by frame index, (track id, box as fractions of the picture) from the motion
    asset's tracks; the nearest frame's within a sampling step is used for depth of field, and each track's
    colours are taken about once a second. Thumbnails are kept only where some effect reaches the threshold, at
    most 400. `progress` hears of the decoded frames."""
    starts, ids = shots["start_frame"].to_numpy(), shots["shot_id"].to_numpy()
    step = max(1, int(round(fps / effects_fps)))
    out = EffectsScan()
    state, recent = ParticleState(), []
    shot_of_last = None
    samples = Cadence(step)
    subjects = subjects or {}
    subject_frames = np.array(sorted(subjects), dtype=np.int64)
    task = progress.task("effects", int(shots["end_frame"].max()) + 1 if len(shots) else None, "frames")
    with open_media(path) as container:
        container.streams.video[0].thread_type = "AUTO"  # frame threads: the same frames, sooner
        cc = container.streams.video[0].codec_context
        height = reduced_height(cc.width, cc.height, width)
        try:
            for index, frame in analysis_frames(container, fps):
                task.update(index + 1)
                if not samples.due(index):
                    continue
                shot_id = int(ids[shot_position(starts, index)]) if len(ids) else 0
                if shot_id != shot_of_last:
                    state, recent, shot_of_last = ParticleState(), [], shot_id
                bgr = reduced_bgr(frame, width, height)
                half = cv2.resize(bgr, (width // 2, height // 2), interpolation=cv2.INTER_AREA)
                scores = lighting(half, recent[-max(2, int(effects_fps)):])
                recent.append(scores.pop("luma"))
                gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
                scores.update(particles(bgr, state, gray))
                near = [(tid, box * np.array([width, height, width, height]))
                        for tid, box in nearest_in(subjects, subject_frames, index, step) or []]
                scores.update(camera_effects(bgr, [box for _, box in near], gray))
                _track_colours(out.track_colours, near, bgr, index, index / fps)
                scores["lens_flare"] = lens_flare(cv2.cvtColor(half, cv2.COLOR_BGR2GRAY))
                out.samples.append({"frame_index": index, "time": index / fps, "shot_id": shot_id, **scores})
                if len(out.thumbnails) < 400 and any(scores.get(k, 0) >= threshold for k in CATEGORIES):
                    out.thumbnails[index] = cv2.resize(bgr, (160, max(2, 160 * height // width)))
        except av.error.FFmpegError as exc:
            raise MediaError(path, f"decoding failed ({exc})") from None
    task.finish()
    _weather(out.samples, effects_fps)
    return out


def _track_colours(colours: dict, near: list[tuple[str, np.ndarray]], bgr: np.ndarray, index: int, t: float,
                   every_s: float = 1.0) -> None:
    for track_id, box in near:
        seq = colours.setdefault(track_id, [])
        if seq and t - seq[-1][1] < every_s:
            continue
        hist = appearance(bgr, box)
        if hist is not None:
            seq.append((index, t, box, hist))


def _weather(samples: list[dict], effects_fps: float) -> None:
    """Particles that cover most of the picture for about a second or more are weather."""
    window = max(1, int(round(effects_fps)))
    for i, s in enumerate(samples):
        near = [x for x in samples[max(0, i - window // 2):i + window // 2 + 1] if x["shot_id"] == s["shot_id"]]
        cover = float(np.mean([x["particle_cover"] for x in near]))
        amount = float(np.mean([max(x["snow"], x["rain"]) for x in near]))
        s["weather"] = round(amount * _clip01((cover - 0.4) / 0.4), 4)


def transformation_scores(track_hists: dict[str, list[tuple[int, float, np.ndarray, np.ndarray]]]) -> list[dict]:
    """Per track: (frame index, time, box, hue-saturation histogram) samples; a fast change of colours
    (histogram distance per second) while the box barely moves is a transformation."""
    rows = []
    for track_id, seq in track_hists.items():
        for (f0, t0, b0, h0), (f1, t1, b1, h1) in zip(seq, seq[1:]):
            dt = max(t1 - t0, 1e-6)
            change = (1 - float(np.minimum(h0, h1).sum())) / dt
            size = max(b0[3] - b0[1], 1.0)
            moved = float(np.linalg.norm((b1[:2] + b1[2:]) / 2 - (b0[:2] + b0[2:]) / 2)) / size / dt
            rows.append({"frame_index": f1, "time": t1, "track_id": track_id,
                         "transformation": round(_clip01((change - 0.4) / 0.8) * _clip01(1.5 - moved), 4)})
    return rows


def catalogue(samples: list[dict], transitions: pd.DataFrame | None, fps: float, threshold: float,
              types=tuple(CATEGORIES)) -> list[dict]:
    """Runs of samples at or above the threshold (one sample's gap tolerated) within a shot, per effect type,
    plus fades and dissolves from the shot transitions; intensity = the run's mean score, peak its highest."""
    events = []
    by_type: dict[str, list[dict]] = defaultdict(list)
    fading = []  # luminance and colours change through fades and dissolves: no flash or transformation there
    if transitions is not None:
        fading = [(int(r.first) - fps * 0.5, int(r.last) + fps) for r in transitions.itertuples()
                  if str(r.kind) in ("fade_in", "fade_out", "dissolve")]
    for s in samples:
        in_fade = any(a <= s["frame_index"] <= b for a, b in fading)
        for t in types:
            if in_fade and t in ("flash", "transformation"):
                continue
            if s.get(t, 0.0) >= threshold:
                by_type[t].append(s)
    for t, hits in by_type.items():
        run: list[dict] = []
        for s in hits + [None]:
            if s is not None and run and s["shot_id"] == run[-1]["shot_id"] and \
                    s["frame_index"] - run[-1]["frame_index"] <= 2 * _gap(samples):
                run.append(s)
                continue
            if run:
                peak = max(run, key=lambda x: x[t])
                events.append({"type": t, "category": CATEGORIES[t], "shot_id": run[0]["shot_id"],
                               "start_frame": run[0]["frame_index"], "end_frame": run[-1]["frame_index"],
                               "start_time": round(run[0]["time"], 3), "end_time": round(run[-1]["time"], 3),
                               "intensity": round(float(np.mean([x[t] for x in run])), 3),
                               "peak": round(float(peak[t]), 3), "peak_frame": peak["frame_index"],
                               "samples": len(run), "track_id": run[0].get("track_id")})
            run = [s] if s is not None else []
    if transitions is not None:
        for r in transitions.itertuples():
            kind = str(r.kind)
            if kind in ("fade_in", "fade_out", "dissolve"):
                events.append({"type": "dissolve" if kind == "dissolve" else "fade", "category": "camera",
                               "shot_id": None, "start_frame": int(r.first), "end_frame": int(r.last),
                               "start_time": round(int(r.first) / fps, 3), "end_time": round(int(r.last) / fps, 3),
                               "intensity": 1.0, "peak": 1.0, "peak_frame": int((r.first + r.last) // 2),
                               "samples": 0, "track_id": None, "detail": kind})
    return sorted(events, key=lambda e: (e["start_frame"], e["type"]))


def _gap(samples: list[dict]) -> int:
    if len(samples) < 2:
        return 1
    return max(1, int(np.median(np.diff([s["frame_index"] for s in samples]))))
