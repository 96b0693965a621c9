"""Choosing which frames of a shot to keep, while the film streams past.

`scene` keeps `frames_per_shot` frames spread over each shot, each the sharpest of its stretch;
`interval` keeps the sharpest frame near every multiple of `interval_seconds`; `hybrid` keeps both.
The shot's length is unknown until it ends, so each open shot keeps a reservoir of candidates: the
sharpest frame of each window, and when there are too many windows, neighbours are merged and the window
doubles. Memory is a few full-resolution frames per open shot, whatever the film's length.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np


def sharpness(gray: np.ndarray) -> float:
    """Variance of the Laplacian: low for blurred or flat images."""
    _, std = cv2.meanStdDev(cv2.Laplacian(gray, cv2.CV_32F))
    return float(std[0, 0]) ** 2


@dataclass
class Candidate:
    index: int
    time: float
    sharpness: float
    payload: Any = field(repr=False, default=None)


@dataclass
class Pick:
    index: int
    time: float
    sharpness: float
    reason: str  # scene | interval | scene+interval
    payload: Any = field(repr=False, default=None)


class ShotSampler:
    def __init__(self, mode: str, frames_per_shot: int, interval_seconds: float, min_window: int = 4):
        self.mode, self.n, self.interval = mode, frames_per_shot, interval_seconds
        self.min_window = min_window
        self._window = min_window
        self._scene: list[Candidate] = []  # one per window, in index order
        self._interval: dict[int, Candidate] = {}  # slot number -> best candidate near slot time

    def offer(self, cand: Candidate) -> None:
        if self.mode in ("scene", "hybrid"):
            self._offer_scene(cand)
        if self.mode in ("interval", "hybrid"):
            slot = int(round(cand.time / self.interval))
            if abs(cand.time - slot * self.interval) <= self.interval / 4:
                best = self._interval.get(slot)
                if best is None or cand.sharpness > best.sharpness:
                    self._interval[slot] = cand

    def _offer_scene(self, cand: Candidate) -> None:
        last = self._scene[-1] if self._scene else None
        if last is not None and cand.index // self._window == last.index // self._window:
            if cand.sharpness > last.sharpness:
                self._scene[-1] = cand
            return
        self._scene.append(cand)
        if len(self._scene) > 4 * self.n:
            self._window *= 2
            merged: list[Candidate] = []
            for c in self._scene:
                if merged and c.index // self._window == merged[-1].index // self._window:
                    if c.sharpness > merged[-1].sharpness:
                        merged[-1] = c
                else:
                    merged.append(c)
            self._scene = merged

    def close(self, start: int, end: int, excluded: set[int] | None = None) -> list[Pick]:
        """Picks for the shot [start, end] (inclusive); candidates after `end` stay for the next shot."""
        excluded = excluded or set()
        scene = [c for c in self._scene if start <= c.index <= end and c.index not in excluded]
        inter = {s: c for s, c in self._interval.items() if start <= c.index <= end and c.index not in excluded}
        self._scene = [c for c in self._scene if c.index > end]
        self._interval = {s: c for s, c in self._interval.items() if c.index > end}
        self._window = self.min_window
        picks: dict[int, Pick] = {}
        if scene:
            # Spread picks over the part of the shot that is usable (transitions and black excluded).
            first, last = scene[0].index, scene[-1].index
            length = last - first + 1
            for k in range(self.n):
                lo, hi = first + length * k / self.n, first + length * (k + 1) / self.n
                inside = [c for c in scene if lo <= c.index < hi]
                if inside:
                    best = max(inside, key=lambda c: c.sharpness)
                    picks[best.index] = Pick(best.index, best.time, best.sharpness, "scene", best.payload)
        for c in inter.values():
            if c.index in picks:
                picks[c.index].reason = "scene+interval"
            else:
                picks[c.index] = Pick(c.index, c.time, c.sharpness, "interval", c.payload)
        return [picks[i] for i in sorted(picks)]
