"""Dense optical flow between two reduced frames, and what a shot's flow says: how much moves, which way, and
how much of it is the camera (one similarity transform explains it) versus the subjects (what is left).

Backends: `DisFlow` (OpenCV DIS, CPU, no weights) and `RaftFlow` (torchvision RAFT, weights from a local
checkpoint, CUDA when present). Both take two BGR uint8 images of the same size and return flow in pixels,
shape (h, w, 2)."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from animproc.errors import ModelError

DIRECTIONS = ("right", "down_right", "down", "down_left", "left", "up_left", "up", "up_right")


class DisFlow:
    name = "dis"
    licence = "no learned weights (OpenCV DIS, Apache-2.0)"

    def __init__(self, preset: int = cv2.DISOPTICAL_FLOW_PRESET_FAST):
        self._dis = cv2.DISOpticalFlow_create(preset)

    def __call__(self, prev_bgr: np.ndarray, next_bgr: np.ndarray) -> np.ndarray:
        a = cv2.cvtColor(prev_bgr, cv2.COLOR_BGR2GRAY)
        b = cv2.cvtColor(next_bgr, cv2.COLOR_BGR2GRAY)
        return self._dis.calc(a, b, None)


class RaftFlow:
    """torchvision RAFT (`raft_small` or `raft_large` architecture) with a state dict from a local file; the
    input is padded to a multiple of 8 and at least 128 px, as RAFT needs, and the flow cropped back."""

    name = "raft"
    licence = "BSD-3-Clause (torchvision RAFT)"

    def __init__(self, checkpoint: str | Path, architecture: str = "raft_small", device: str = "auto",
                 iterations: int = 12):
        import torch
        from torchvision.models import optical_flow

        path = Path(checkpoint)
        if not path.is_file():
            raise ModelError(path, "RAFT checkpoint not found")
        if architecture not in ("raft_small", "raft_large"):
            raise ModelError(path, f"unknown RAFT architecture {architecture!r} (raft_small or raft_large)")
        model = getattr(optical_flow, architecture)(weights=None, progress=False)
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            model.load_state_dict(state.get("state_dict", state) if isinstance(state, dict) else state)
        except Exception as exc:  # noqa: BLE001 - any load failure is a bad model file for the user
            raise ModelError(path, f"not a {architecture} state dict ({exc})") from None
        self.device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
        self.model = model.eval().to(self.device)
        self.iterations = iterations

    def __call__(self, prev_bgr: np.ndarray, next_bgr: np.ndarray) -> np.ndarray:
        import torch

        h, w = prev_bgr.shape[:2]
        ph, pw = max(128, h + (-h) % 8) - h, max(128, w + (-w) % 8) - w  # RAFT's pyramid needs >= 128 px

        def tensor(img: np.ndarray):
            rgb = cv2.copyMakeBorder(img[..., ::-1], 0, ph, 0, pw, cv2.BORDER_REPLICATE)
            t = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float() / 127.5 - 1.0
            return t[None].to(self.device)

        with torch.inference_mode():
            flows = self.model(tensor(prev_bgr), tensor(next_bgr), num_flow_updates=self.iterations)
        return flows[-1][0].permute(1, 2, 0).cpu().numpy()[:h, :w]


def _grid(h: int, w: int, step: int) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[step // 2:h:step, step // 2:w:step]
    return xs.reshape(-1), ys.reshape(-1)


def camera_fit(flow: np.ndarray, foreground: np.ndarray | None = None, step: int = 8) -> np.ndarray | None:
    """The similarity transform (2x3) that best explains the flow on a grid, RANSAC, leaving out foreground
    (character masks) where known: the camera's part of the motion."""
    h, w = flow.shape[:2]
    xs, ys = _grid(h, w, step)
    if foreground is not None:
        keep = foreground[ys, xs] == 0
        if keep.sum() >= 12:
            xs, ys = xs[keep], ys[keep]
    src = np.stack([xs, ys], 1).astype(np.float32)
    dst = src + flow[ys, xs]
    if len(src) < 12:
        return None
    m, _ = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=max(1.0, w / 200))
    return m


def camera_displacement(m: np.ndarray | None, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """How far the camera's similarity `m` (2x3) moves the points (xs, ys): shape (*xs.shape, 2); zeros
    without one."""
    if m is None:
        return np.zeros((*np.shape(xs), 2), np.float32)
    return np.stack([m[0, 0] * xs + m[0, 1] * ys + m[0, 2] - xs, m[1, 0] * xs + m[1, 1] * ys + m[1, 2] - ys], -1)


@lru_cache(maxsize=8)
def pixel_grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """x and y of every pixel of an h x w picture (float32, read-only): made once per size, not per frame."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    xs.flags.writeable = ys.flags.writeable = False
    return xs, ys


def flow_summary(flow: np.ndarray, dt: float, foreground: np.ndarray | None = None,
                 camera_matrix: np.ndarray | None = None) -> dict:
    """Per frame pair, in frame widths per second: total motion energy (mean flow magnitude), the camera's
    share (flow of the fitted similarity; `camera_matrix` when the caller fitted it already) and the subjects'
    (what the camera does not explain, averaged over the foreground when known, else over pixels whose residual
    stands out), the mean residual over the whole picture (what the camera leaves, diluted by still areas, so
    comparable from frame to frame), and the flow's mean vector. Computed in float32, as the flow is."""
    h, w = flow.shape[:2]
    m = camera_fit(flow, foreground) if camera_matrix is None else camera_matrix
    fx, fy = flow[..., 0], flow[..., 1]
    if m is None:
        cx = cy = np.zeros((h, w), np.float32)
    else:
        xs, ys = pixel_grid(h, w)
        a = np.asarray(m, np.float32)
        cx = (a[0, 0] - 1) * xs + a[0, 1] * ys + a[0, 2]
        cy = a[1, 0] * xs + (a[1, 1] - 1) * ys + a[1, 2]
    residual = np.hypot(fx - cx, fy - cy)
    if foreground is not None and foreground.any():
        subject_region = foreground > 0
    else:
        subject_region = residual > max(1.0, 3 * float(np.median(residual)))
    scale = 1.0 / (w * max(dt, 1e-6))
    subject = float(residual[subject_region].mean()) if subject_region.any() else 0.0
    return {"energy": float(np.hypot(fx, fy).mean()) * scale,
            "camera": float(np.hypot(cx, cy).mean()) * scale,
            "subject": subject * scale, "subject_area": float(subject_region.mean()),
            "residual": float(residual.mean()) * scale,
            "mean_dx": float(fx.mean()) * scale, "mean_dy": float(fy.mean()) * scale}


def direction_name(dx: float, dy: float, still: float = 1e-3) -> str:
    """Compass name of an image-space vector (y grows downward), `still` below the given magnitude."""
    if np.hypot(dx, dy) < still:
        return "still"
    return DIRECTIONS[int(np.round(np.degrees(np.arctan2(dy, dx)) / 45.0)) % 8]


def shot_flow(pairs: list[dict]) -> dict:
    """A shot's flow from its frame pairs: medians (a flash or a cut-in spoils some pairs, not the shot)."""
    if not pairs:
        return {"flow_pairs": 0, "motion_energy": 0.0, "camera_motion": 0.0, "subject_motion": 0.0,
                "camera_share": 0.0, "dominant_direction": "still"}
    med = {k: float(np.median([p[k] for p in pairs])) for k in ("energy", "camera", "subject", "mean_dx", "mean_dy")}
    total = med["camera"] + med["subject"]
    return {"flow_pairs": len(pairs), "motion_energy": round(med["energy"], 5), "camera_motion": round(med["camera"], 5),
            "subject_motion": round(med["subject"], 5),
            "camera_share": round(med["camera"] / total, 3) if total > 0 else 0.0,
            "dominant_direction": direction_name(med["mean_dx"], med["mean_dy"], 0.01)}
