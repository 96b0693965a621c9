"""Camera movement of a shot from global motion between frame pairs.

Sparse corners tracked with pyramidal Lucas-Kanade and a RANSAC similarity fit give, for each pair, the
picture's translation, scale and rotation; foreground (character masks, when known) is left out. Over the shot
these become rates per second: a steady translation is a pan (horizontal) or tilt (vertical) the opposite way
to the picture's motion, a steady scale change a zoom (or a dolly when the similarity fit leaves parallax
behind), a steady rotation a roll, and frame-to-frame jitter around the mean handheld shake."""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from animproc.robust import scaled_mad


@dataclass(frozen=True)
class PairMotion:
    dt: float  # seconds between the two frames
    tx: float  # picture translation, fraction of the frame width
    ty: float  # fraction of the frame height
    log_scale: float
    rotation: float  # degrees
    inliers: float  # share of tracked corners the fit explains (phase correlation: from its peak's strength)
    residual: float  # median reprojection error of the inliers, fraction of the width
    method: str = "corners"  # or "phase": the fallback where too few corners are tracked


@dataclass
class CameraMovement:
    label: str
    confidence: float
    evidence: dict = field(default_factory=dict)


def pair_motion(prev_gray: np.ndarray, next_gray: np.ndarray, dt: float,
                mask: np.ndarray | None = None) -> PairMotion | None:
    h, w = prev_gray.shape
    corners = cv2.goodFeaturesToTrack(prev_gray, 300, 0.01, max(4, w // 80), mask=mask)
    if corners is None or len(corners) < 12:
        return None
    moved, status, _ = cv2.calcOpticalFlowPyrLK(prev_gray, next_gray, corners, None, winSize=(15, 15), maxLevel=3)
    ok = status.reshape(-1) == 1
    src, dst = corners.reshape(-1, 2)[ok], moved.reshape(-1, 2)[ok]
    if len(src) < 12:
        return None
    m, inliers = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=max(1.0, w / 320))
    if m is None:
        return None
    a, b = float(m[0, 0]), float(m[1, 0])
    scale = float(np.hypot(a, b))
    inl = inliers.reshape(-1).astype(bool)
    projected = src[inl] @ m[:, :2].T + m[:, 2]
    residual = float(np.median(np.linalg.norm(projected - dst[inl], axis=1))) / w if inl.any() else 1.0
    # translation of the frame centre (so a zoom about the centre is not read as a pan)
    cx, cy = w / 2, h / 2
    centre = m[:, :2] @ np.array([cx, cy]) + m[:, 2]
    return PairMotion(dt, float(centre[0] - cx) / w, float(centre[1] - cy) / h, float(np.log(max(scale, 1e-6))),
                      float(np.degrees(np.arctan2(b, a))), float(inl.mean()), residual)


def phase_motion(prev_gray: np.ndarray, next_gray: np.ndarray, dt: float, mask: np.ndarray | None = None,
                 min_response: float = 0.08) -> PairMotion | None:
    """The picture's translation between two frames by phase correlation, for pairs with too few corners to
    track (dark, hazy, flat pictures still carry the shift in their low frequencies). Contrast is stretched
    first, pixels under `mask` (0 over the characters) take the frame's mean so a moving character does not
    pull the peak, and a Hann window keeps the borders out. None when the correlation peak is weak (under
    `min_response`): there is nothing to measure."""
    h, w = prev_gray.shape
    a, b = (cv2.normalize(g.astype(np.float32), None, 0, 1, cv2.NORM_MINMAX) for g in (prev_gray, next_gray))
    if mask is not None:
        keep = mask > 0
        for g in (a, b):
            g[~keep] = float(g[keep].mean()) if keep.any() else 0.0
    if float(a.std()) < 1e-3 or float(b.std()) < 1e-3:
        return None
    window = cv2.createHanningWindow((w, h), cv2.CV_32F)
    (dx, dy), response = cv2.phaseCorrelate(a, b, window)
    if response < min_response:
        return None
    strength = float(min(1.0, 0.5 + response))
    return PairMotion(dt, float(dx) / w, float(dy) / h, 0.0, 0.0, strength, 0.0, "phase")


def steady_rates(pairs: list[PairMotion], window_s: float) -> tuple[float, float]:
    """How fast the picture moves (pan, tilt: widths, heights per second) for most of the shot whatever its
    direction: the median over the shot's `window_s` windows (one from each pair on, at least three pairs) of
    each window's median rate in magnitude, signed as most of the windows that reach it go. A camera drifting
    one way and then back has a shot median near zero, yet moves all through the shot; a passing object or a
    flash spoils a few windows, not most. Times are the kept pairs' gaps added up. (0, 0) without a window."""
    if not window_s or len(pairs) < 3:
        return 0.0, 0.0
    t = np.cumsum([p.dt for p in pairs])
    rates = np.array([[p.tx / p.dt, p.ty / p.dt] for p in pairs])
    inside = [(t >= t0) & (t < t0 + window_s) for t0 in t]
    windows = np.array([np.median(rates[k], axis=0) for k in inside if k.sum() >= 3])
    if not len(windows):
        return 0.0, 0.0
    size = np.median(np.abs(windows), axis=0)
    sign = np.where(np.sum(np.where(np.abs(windows) >= size, np.sign(windows), 0.0), axis=0) < 0, -1.0, 1.0)
    return float(size[0] * sign[0]), float(size[1] * sign[1])


def classify_movement(pairs: list[PairMotion], pan_rate: float = 0.03, zoom_rate: float = 0.03,
                      roll_rate: float = 1.5, shake: float = 0.01, parallax: float = 0.004,
                      picture_change: float | None = None, unaligned_change: float = 12.0,
                      window_s: float = 1.0) -> CameraMovement:
    """Rates: pan/tilt in frame widths (heights) per second, zoom in log-scale per second, roll in degrees per
    second; shake is the per-pair translation's standard deviation around its mean, in frame widths.
    `picture_change`: the median grey-level change between the shot's sampled frames. Where no pair can be
    measured, a picture that still changes that much (`unaligned_change` or more) is not a locked camera: a
    static camera keeps its background aligned and measurable, so pictures that change without any camera
    motion fitting them are fast action, shake or blur, `handheld` at low confidence. Pan and tilt rates are
    the larger of the shot's median and its `steady_rates` over `window_s` windows (0: the median alone), unless
    the camera shakes."""
    pairs = [p for p in pairs if p is not None and p.dt > 0 and p.inliers >= 0.5]
    if len(pairs) < 2:
        evidence = {"pairs": len(pairs), "note": "too few frame pairs to measure"}
        if picture_change is None:
            return CameraMovement("static", 0.3, evidence)
        evidence["picture_change"] = round(picture_change, 2)
        if picture_change >= unaligned_change:
            return CameraMovement("handheld", 0.4, {**evidence, "note": "the pictures change but do not align"})
        return CameraMovement("static", 0.3, evidence)
    # medians of per-pair rates: fades, flashes and passing objects spoil some pairs, not the shot
    vx = float(np.median([p.tx / p.dt for p in pairs]))
    vy = float(np.median([p.ty / p.dt for p in pairs]))
    vs = float(np.median([p.log_scale / p.dt for p in pairs]))
    vr = float(np.median([p.rotation / p.dt for p in pairs]))
    steps = np.array([p.tx for p in pairs]) - vx * np.array([p.dt for p in pairs])
    jitter = scaled_mad(steps)
    if jitter < shake:  # a drift that turns back (a shaking camera's windows carry its shake: handheld below)
        vx, vy = (v if abs(v) >= abs(w) else w for v, w in zip((vx, vy), steady_rates(pairs, window_s)))
    residual = float(np.median([p.residual for p in pairs]))
    evidence = {"pairs": len(pairs), "phase_pairs": sum(p.method == "phase" for p in pairs),
                "pan_rate": round(vx, 4), "tilt_rate": round(vy, 4), "zoom_rate": round(vs, 4),
                "roll_rate": round(vr, 3), "jitter": round(jitter, 4), "residual": round(residual, 5),
                "inliers": round(float(np.mean([p.inliers for p in pairs])), 3)}
    moves = []
    if abs(vx) >= pan_rate:
        moves.append(("pan_right" if vx < 0 else "pan_left", abs(vx) / pan_rate))
    if abs(vy) >= pan_rate:
        moves.append(("tilt_up" if vy > 0 else "tilt_down", abs(vy) / pan_rate))
    if abs(vs) >= zoom_rate:
        kind = "dolly" if residual > parallax else "zoom"
        moves.append((f"{kind}_in" if vs > 0 else f"{kind}_out", abs(vs) / zoom_rate))
    if abs(vr) >= roll_rate:
        moves.append(("roll", abs(vr) / roll_rate))
    if len(moves) > 1:  # a movement that clearly dominates names the shot (framing corrections ride along)
        moves.sort(key=lambda m: -m[1])
        if moves[0][1] >= 1.5 * moves[1][1]:
            moves = moves[:1]
    if len(moves) > 1:
        return CameraMovement("complex", min(1.0, 0.5 + 0.1 * len(moves)), evidence)
    if moves:
        label, strength = moves[0]
        return CameraMovement(label, round(min(1.0, 0.5 + 0.25 * (strength - 1) + 0.25 * evidence["inliers"]), 3),
                              evidence)
    if jitter >= shake:
        return CameraMovement("handheld", round(min(1.0, 0.5 * jitter / shake), 3), evidence)
    calm = max(abs(vx) / pan_rate, abs(vy) / pan_rate, abs(vs) / zoom_rate, abs(vr) / roll_rate, jitter / shake)
    return CameraMovement("static", round(float(np.clip(1 - 0.5 * calm, 0.5, 1.0)), 3), evidence)


def shot_movement(frames: list[tuple[float, np.ndarray]], masks: dict[int, np.ndarray] | None = None,
                  **thresholds) -> CameraMovement:
    """`frames`: (time, grey image) pairs of one shot in order, already reduced; masks by position in the list
    (255 where tracking may look, 0 over characters)."""
    pairs = []
    for k in range(1, len(frames)):
        (t0, a), (t1, b) = frames[k - 1], frames[k]
        pairs.append(pair_motion(a, b, t1 - t0, (masks or {}).get(k - 1)))
    return classify_movement([p for p in pairs if p is not None], **thresholds)
