"""Shot boundary detection: small detectors over a stream of frame signals, composed into one shot list.

Each detector sees every frame once (`update`) and may answer late: `settled_before` is the first frame
index about which it may still change its mind, so callers can close shots (and free frames) behind it.

- `ContentCutDetector`: hard cuts from the change in luma and chroma between consecutive frames, judged
  against the change on the calmer side of it (adaptive, so fast action does not read as cuts, nor hides a cut
  out of it), with flashes rejected by checking that the picture does not come back a few frames later and
  texture refreshes by requiring the coarse picture to change. A change near the bar (2/3 of it) is a cut when
  its colour distribution jumps and its edges change with it (fast motion keeps both).
- `FadeDetector`: fades to and from black from runs of black frames and the luma ramps around them.
- `DissolveDetector`: cross-dissolves, found where a frame is the blend of the frames on either side of a
  window (a pan or a zoom moves pixels and is not a blend; a lighting change keeps structure and is refused;
  a title fading in over a held picture changes only its own region and is refused too).
- `WipeDetector`: wipes, where the new picture sweeps in over the old one (each frame is one picture or the
  other pixel by pixel, and the new part grows steadily and holds together).
"""
from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass
from typing import Protocol

import cv2
import numpy as np

from animproc.video.decode import FrameSignal, mean_abs_diff


@dataclass(frozen=True)
class Transition:
    """A boundary between shots. `boundary` is the first frame of the new shot (None: no new shot,
    e.g. a fade-in at the very start); `first`/`last` give the extent (equal to `boundary` for a cut)."""

    kind: str  # cut | fade_out | fade_in | dissolve | wipe
    first: int
    last: int
    boundary: int | None
    score: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


class ShotDetector(Protocol):
    name: str

    def update(self, signal: FrameSignal) -> list[Transition]: ...

    def settled_before(self) -> int: ...

    def finish(self) -> list[Transition]: ...


def _dissolve_thumb(signal: FrameSignal) -> tuple[np.ndarray, np.ndarray]:
    small = cv2.resize(signal.luma, (64, 36), interpolation=cv2.INTER_AREA).astype(np.float32)
    return small, cv2.resize(small, (16, 9), interpolation=cv2.INTER_AREA)


def edge_change_ratio(a: np.ndarray, b: np.ndarray, dilate: int = 5) -> float:
    """Share of edges that appear or vanish from picture `a` to `b` (the larger of the two shares), edges
    counted as kept when the other picture has one within `dilate // 2` pixels (Zabih et al., 1995)."""
    kernel = np.ones((dilate, dilate), np.uint8)
    ea, eb = cv2.Canny(a, 60, 140), cv2.Canny(b, 60, 140)
    near_a, near_b = cv2.dilate(ea, kernel), cv2.dilate(eb, kernel)
    new = cv2.countNonZero(cv2.bitwise_and(eb, cv2.bitwise_not(near_a))) / max(cv2.countNonZero(eb), 1)
    gone = cv2.countNonZero(cv2.bitwise_and(ea, cv2.bitwise_not(near_b))) / max(cv2.countNonZero(ea), 1)
    return max(new, gone)


class ContentCutDetector:
    name = "content"

    def __init__(self, fps: float, ratio: float = 3.0, min_score: float = 8.0, hard_score: float = 45.0,
                 window: int = 2, flash_frames: int = 3, min_coarse_change: float = 5.0, near_share: float = 2 / 3,
                 colour_jump_ratio: float = 3.0, min_edge_change: float = 0.2):
        self.ratio, self.min_score, self.hard_score = ratio, min_score, hard_score
        self.min_coarse_change = min_coarse_change
        self.window, self.flash_frames = window, flash_frames
        self.near_share, self.colour_jump_ratio, self.min_edge_change = near_share, colour_jump_ratio, min_edge_change
        self._scores: deque[tuple[int, float]] = deque()
        self._thumbs: deque[tuple[int, np.ndarray, bool]] = deque(maxlen=2 * (window + flash_frames) + 3)
        self._planes: deque[tuple[int, FrameSignal]] = deque(maxlen=2 * (window + flash_frames) + 3)
        self._histograms: dict[int, np.ndarray] = {}
        self._prev: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._last = -1

    def _score(self, signal: FrameSignal) -> float:
        score = 0.0
        if self._prev is not None:
            pl, pu, pv = self._prev
            # Chroma differences are small in absolute terms, so they count double.
            score = (mean_abs_diff(signal.luma, pl) + mean_abs_diff(signal.u, pu) + mean_abs_diff(signal.v, pv)) / 2.0
        self._prev = (signal.luma, signal.u, signal.v)
        return score

    def update(self, signal: FrameSignal) -> list[Transition]:
        self._last = signal.index
        self._scores.append((signal.index, self._score(signal)))
        tiny = cv2.resize(signal.luma, (32, 18), interpolation=cv2.INTER_AREA)
        self._thumbs.append((signal.index, tiny, signal.is_black))
        self._planes.append((signal.index, signal))
        need = self.window + self.flash_frames
        out = []
        if len(self._scores) > 2 * self.window + 1 and len(self._scores) > need:
            out = self._judge(len(self._scores) - 1 - need)
        while len(self._scores) > 2 * need + 2:
            self._scores.popleft()
        return out

    def _judge(self, pos: int) -> list[Transition]:
        idx, score = self._scores[pos]
        if score < self.min_score:
            return []
        before = [s for i, (_, s) in enumerate(self._scores) if pos - self.window <= i < pos]
        after = [s for i, (_, s) in enumerate(self._scores) if pos < i <= pos + self.window]
        # The motion on one side of a cut says nothing of the other shot's: a cut out of (or into) fast action is
        # judged against the calmer side, so the action's blur does not hide it.
        base = min((float(np.mean(side)) for side in (before, after) if side), default=0.0)
        if score < self.ratio * max(base, 1.0) and score < self.hard_score:
            if score < self.near_share * self.ratio * max(base, 1.0) or not self._second_vote(idx):
                return []
        if score < max(s for i, (_, s) in enumerate(self._scores) if abs(i - pos) <= self.window):
            return []
        thumbs = {i: (t, m) for i, t, m in self._thumbs}
        before, at = thumbs.get(idx - 1), thumbs.get(idx)
        if before is None or at is None:
            return []
        if before[1] or at[1]:
            return []  # cuts into or out of black are the fade detector's
        # A flash, or something crossing the lens: the picture after it resembles the picture before it.
        # Compared on tiny images, so a subject that moved meanwhile still counts as the same picture.
        jump = mean_abs_diff(at[0], before[0])
        if jump < self.min_coarse_change:
            return []  # only fine detail changed (a codec's key frame refreshing texture, grain): same picture
        for j in range(idx + 1, idx + self.flash_frames + 1):
            for i in range(idx - 1 - self.flash_frames, idx):
                a, b = thumbs.get(j), thumbs.get(i)
                if a is not None and b is not None and mean_abs_diff(a[0], b[0]) < 0.35 * jump:
                    return []
        return [Transition("cut", idx, idx, idx, round(score, 3))]

    def _histogram(self, index: int) -> np.ndarray | None:
        """Luma and chroma distributions (16 bins each, each summing to 1) of a frame still held."""
        if index not in self._histograms:
            planes = dict(self._planes).get(index)
            if planes is None:
                return None
            self._histograms[index] = np.concatenate([
                cv2.calcHist([p], [0], None, [16], [0, 256]).ravel() / p.size
                for p in (planes.luma, planes.u, planes.v)])
            for old in [i for i in self._histograms if i < self._planes[0][0]]:
                del self._histograms[old]
        return self._histograms[index]

    def _colour_change(self, index: int) -> float | None:
        a, b = self._histogram(index - 1), self._histogram(index)
        return None if a is None or b is None else float(np.abs(a - b).sum()) / 6.0

    def _second_vote(self, idx: int) -> bool:
        """For a change near the bar: a cut also changes what colours the picture holds (motion, even fast, keeps
        them) and where its edges are (a lighting change or a codec's refresh keeps them). Both must jump: the
        colour change `colour_jump_ratio` times its neighbours', and a `min_edge_change` share of edges new or
        gone (the edge change ratio)."""
        at = self._colour_change(idx)
        around = [self._colour_change(j) for j in (idx - 2, idx - 1, idx + 1, idx + 2)]
        if at is None or any(c is None for c in around):
            return False
        if at < self.colour_jump_ratio * max(max(around), 1e-3):
            return False
        planes = dict(self._planes)
        return edge_change_ratio(planes[idx - 1].luma, planes[idx].luma) >= self.min_edge_change

    def settled_before(self) -> int:
        return self._last - self.window - self.flash_frames

    def finish(self) -> list[Transition]:
        out = []
        need = self.window + self.flash_frames
        for pos in range(max(0, len(self._scores) - need), len(self._scores)):
            out += self._judge(pos) if pos > 0 else []
        return out


class FadeDetector:
    """Fades through black: a black run, the ramp down into it and the ramp up out of it.

    Black frames stay with the shot before them; the new shot starts at the first frame after the run.
    A ramp shorter than two frames is a cut into or out of black and is reported as a cut.
    """

    name = "fade"

    def __init__(self, fps: float, max_ramp_seconds: float = 3.0):
        self.max_ramp = max(2, int(round(max_ramp_seconds * fps)))
        self._luma: deque[tuple[int, float]] = deque(maxlen=self.max_ramp + 1)
        self.lag, self.min_slope = 3, 0.15
        self._black: tuple[int, int, int] | None = None  # ramp-down first frame, black run first, last
        self._rising: tuple[int, int, int, float] | None = None  # as above, then the last luma seen
        self._seen_content = False
        self._last = -1

    def _ramp_down_first(self, black_first: int, black_luma: float) -> int:
        """Walk back while the picture was brighter a few frames earlier (slow fades move little per frame).
        A step much larger than the step before it is a cut into the dark, not a fade."""
        history = [(black_first, black_luma)] + list(reversed(self._luma))
        first = black_first
        for k in range(1, len(history)):
            cur, later = history[k][1], history[k - 1][1]
            before = history[k + 1][1] - cur if k + 1 < len(history) else cur - later
            if cur - later > max(4.0, 3.0 * max(before, 0.5)):
                break
            j = min(len(history) - 1, k + self.lag)
            if history[j][1] - cur <= self.min_slope * (j - k) and cur <= later + self.min_slope:
                break
            first = history[k][0]
        return first

    def update(self, signal: FrameSignal) -> list[Transition]:
        self._last, m, out = signal.index, signal.mean_luma, []
        if signal.is_black:
            if self._rising is not None:
                out = self._emit(signal.index - 1)
            if self._black is None:
                self._black = (self._ramp_down_first(signal.index, m), signal.index, signal.index)
            else:
                self._black = (self._black[0], self._black[1], signal.index)
        elif self._black is not None:
            self._rising, self._black = (*self._black, m), None
        elif self._rising is not None:
            recent = [v for i, v in self._luma if i >= signal.index - self.lag]
            rising = m > self._rising[3] - self.min_slope and (not recent or m - recent[0] > self.min_slope * len(recent))
            if rising and signal.index - self._rising[2] <= self.max_ramp:
                self._rising = (*self._rising[:3], max(m, self._rising[3]))
            else:
                out = self._emit(signal.index - 1)
        if self._black is None and self._rising is None:
            self._seen_content = True
        self._luma.append((signal.index, m))
        return out

    def _emit(self, ramp_up_last: int) -> list[Transition]:
        down_first, black_first, black_last, _ = self._rising
        self._rising = None
        out = []
        if self._seen_content and black_first - down_first >= 2:
            out.append(Transition("fade_out", down_first, black_first, None))
        boundary = black_last + 1 if self._seen_content else None
        if ramp_up_last - black_last >= 2:
            out.append(Transition("fade_in", black_last, ramp_up_last, boundary))
        elif boundary is not None:
            out.append(Transition("cut", boundary, boundary, boundary))
        return out

    def settled_before(self) -> int:
        if self._black is not None:
            return self._black[0]
        if self._rising is not None:
            return self._rising[0]
        return self._last

    def finish(self) -> list[Transition]:
        if self._rising is not None:
            return self._emit(self._last)
        if self._black is not None and self._seen_content and self._black[1] - self._black[0] >= 2:
            return [Transition("fade_out", self._black[0], self._black[1], None)]
        return []


class DissolveDetector:
    name = "dissolve"

    def __init__(self, fps: float, black_level: float = 22.0, min_change: float = 14.0, max_residual: float = 0.18,
                 max_correlation: float = 0.85, lengths_seconds: tuple[float, ...] = (0.33, 0.5, 0.75, 1.0, 1.5, 2.0),
                 min_changed_share: float = 0.6):
        self.lengths = sorted({max(4, int(round(s * fps)) // 2 * 2) for s in lengths_seconds})
        self.black_level, self.min_change, self.min_changed_share = black_level, min_change, min_changed_share
        self.max_residual, self.max_corr = max_residual, max_correlation
        self._ring: deque[tuple[int, np.ndarray]] = deque(maxlen=max(self.lengths) + 1)
        self._best: Transition | None = None
        self._last = -1

    def _fit(self, length: int) -> tuple[float, float] | None:
        (a, ta), (b, tb) = self._ring[-1 - length][1], self._ring[-1][1]
        if mean_abs_diff(ta, tb) < 0.5 * self.min_change:
            return None  # cheap test on 16x9 images first: most windows are nowhere near a transition
        change = mean_abs_diff(a, b)
        if change < self.min_change or min(cv2.mean(a)[0], cv2.mean(b)[0]) < 2 * self.black_level:
            return None
        if float((cv2.absdiff(a, b) > 8).mean()) < self.min_changed_share:
            return None  # a title or overlay fading in over a held picture changes only its own region
        residuals = []
        for q in (0.25, 0.5, 0.75):
            mid = self._ring[-1 - int(round(length * (1 - q)))][1][0]
            residuals.append(mean_abs_diff(mid, cv2.addWeighted(a, 1 - q, b, q, 0.0)) / change)
            if residuals[-1] > self.max_residual:
                return None
        za, zb = a - a.mean(), b - b.mean()
        corr = float((za * zb).sum() / (np.sqrt((za * za).sum() * (zb * zb).sum()) + 1e-6))
        if corr > self.max_corr:
            return None
        return change, float(np.mean(residuals))

    def update(self, signal: FrameSignal) -> list[Transition]:
        self._last = signal.index
        self._ring.append((signal.index, _dissolve_thumb(signal)))
        out = []
        for length in self.lengths if signal.index % 2 == 0 else ():
            fit = self._fit(length) if len(self._ring) > length else None
            if fit is None:
                continue
            change, resid = fit
            first = signal.index - length
            cand = Transition("dissolve", first, signal.index, first + length // 2,
                              round(change * (1 - resid / self.max_residual), 3))
            if self._best is not None and cand.first > self._best.last:
                out.append(self._best)
                self._best = None
            if self._best is None or cand.score > self._best.score:
                self._best = cand
        if self._best is not None and signal.index > self._best.last + max(self.lengths):
            out.append(self._best)
            self._best = None
        return out

    def settled_before(self) -> int:
        floor = self._last - max(self.lengths)
        return min(floor, self._best.first) if self._best is not None else floor

    def finish(self) -> list[Transition]:
        return [self._best] if self._best is not None else []


class WipeDetector:
    """Wipes: the new picture sweeps in over the old one. Between a window's two end pictures every frame is,
    pixel by pixel, one or the other (not a blend, which the dissolve detector finds), and the part already new
    grows steadily through the window and holds together (each quarter's new part stays new). A subject
    crossing the lens sweeps in too but leaves: a wipe whose old picture comes back is refused."""

    name = "wipe"

    def __init__(self, fps: float, black_level: float = 22.0, min_change: float = 14.0,
                 min_changed_share: float = 0.6, max_residual: float = 0.2,
                 lengths_seconds: tuple[float, ...] = (0.33, 0.5, 0.75, 1.0), min_nesting: float = 0.8):
        self.lengths = sorted({max(4, int(round(s * fps)) // 2 * 2) for s in lengths_seconds})
        self.black_level, self.min_change, self.min_changed_share = black_level, min_change, min_changed_share
        self.max_residual, self.min_nesting = max_residual, min_nesting
        self._ring: deque[tuple[int, np.ndarray]] = deque(maxlen=2 * max(self.lengths) + 1)
        self._best: Transition | None = None
        self._last = -1

    def _new_parts(self, length: int, a: np.ndarray, b: np.ndarray, changed: np.ndarray, change: float
                   ) -> tuple[list[np.ndarray], float] | None:
        """The changed pixels already like `b` at the window's quarters, and how far the frames there are from
        the nearer end picture (relative to the change); None where a frame is a blend."""
        parts, residuals = [], []
        for q in (0.25, 0.5, 0.75):
            mid = self._ring[-1 - int(round(length * (1 - q)))][1]
            da, db = cv2.absdiff(mid, a), cv2.absdiff(mid, b)
            residuals.append(float(np.minimum(da, db)[changed].mean()) / change)
            if residuals[-1] > self.max_residual:
                return None
            parts.append((db < da) & changed)
        return parts, float(np.mean(residuals))

    def _fit(self, length: int) -> tuple[float, float] | None:
        a, b = self._ring[-1 - length][1], self._ring[-1][1]
        change = mean_abs_diff(a, b)
        if change < self.min_change or min(cv2.mean(a)[0], cv2.mean(b)[0]) < 2 * self.black_level:
            return None
        changed = cv2.absdiff(a, b) > max(8.0, 0.5 * change)
        if changed.mean() < self.min_changed_share:
            return None
        fit = self._new_parts(length, a, b, changed, change)
        if fit is None:
            return None
        parts, residual = fit
        shares = [p.sum() / changed.sum() for p in parts]
        if not (0.05 <= shares[0] < shares[1] < shares[2] <= 0.95 and 0.25 <= shares[1] <= 0.75):
            return None  # a cut inside the window turns the whole picture at once
        if any((small & large).sum() < self.min_nesting * small.sum() for small, large in zip(parts, parts[1:])):
            return None  # scattered pixels (a pan over texture), not a sweeping edge
        return change, residual

    def update(self, signal: FrameSignal) -> list[Transition]:
        self._last = signal.index
        self._ring.append((signal.index, _dissolve_thumb(signal)[0]))
        out = []
        for length in self.lengths if signal.index % 2 == 0 else ():
            fit = self._fit(length) if len(self._ring) > length else None
            if fit is None:
                continue
            first = signal.index - length
            change, residual = fit
            cand = Transition("wipe", first, signal.index, first + length // 2,
                              round(change * (1 - residual / self.max_residual), 3))
            if self._best is not None and cand.first > self._best.last:
                out += self._settle()
            if self._best is None or cand.score > self._best.score:
                self._best = cand
        if self._best is not None and signal.index > self._best.last + max(self.lengths):
            out += self._settle()
        return out

    def _settle(self) -> list[Transition]:
        best, self._best = self._best, None
        held = dict(self._ring)
        a, b, now = held.get(best.first), held.get(best.last), self._ring[-1][1]
        if a is not None and b is not None and mean_abs_diff(now, a) < mean_abs_diff(now, b):
            return []
        return [best]

    def settled_before(self) -> int:
        floor = self._last - max(self.lengths)
        return min(floor, self._best.first) if self._best is not None else floor

    def finish(self) -> list[Transition]:
        return self._settle() if self._best is not None else []


def _overlaps(a: Transition, b: Transition) -> bool:
    return a.first <= b.last and b.first <= a.last


def _outranks(g: Transition, dissolve: Transition) -> bool:
    """Fades are measured directly (black frames); among dissolves the better blend fit wins."""
    return g.kind not in ("dissolve", "wipe") or (g.score, -g.first) > (dissolve.score, -dissolve.first)


class BoundaryTracker:
    """Runs detectors side by side and turns their transitions into shot boundaries, in order, as soon as
    every detector has settled past them. Gradual transitions win over cuts inside their extent, and a
    boundary closer than `min_shot_frames` to the previous one is dropped: two detectors, or one twice, reading
    one change. A shot that starts out of black (a fade's end) is not such a reading: there the floor is
    `min_shot_after_black` frames, one more than the cut detector's flash window (a cut soon after a fade in
    is the editor's, as in a trailer)."""

    def __init__(self, detectors: list[ShotDetector], min_shot_frames: int, min_shot_after_black: int = 4):
        self.detectors = detectors
        self.min_shot_frames = max(1, min_shot_frames)
        self.min_shot_after_black = max(1, min(min_shot_after_black, self.min_shot_frames))
        self.transitions: list[Transition] = []
        self._pending: list[Transition] = []
        self._last_boundary = 0
        self._recent_black: deque[int] = deque(maxlen=512)
        self._after_black = False

    def update(self, signal: FrameSignal) -> list[Transition]:
        if signal.is_black:
            self._recent_black.append(signal.index)
        for det in self.detectors:
            found = det.update(signal)
            if found:
                self._pending += found
        if not self._pending:
            return []
        return self._release(min(d.settled_before() for d in self.detectors))

    def finish(self) -> list[Transition]:
        for det in self.detectors:
            self._pending += det.finish()
        return self._release(None)

    def _release(self, settled: int | None) -> list[Transition]:
        ready = [t for t in self._pending if settled is None or t.last < settled]
        if not ready:
            return []
        self._pending = [t for t in self._pending if t not in ready]
        gradual = [t for t in self.transitions[-8:] + ready + self._pending if t.kind != "cut"]
        accepted = []
        for t in sorted(ready, key=lambda t: (t.first, t.kind == "cut")):
            if t.kind == "cut" and any(g.first <= t.first <= g.last + 1 for g in gradual):
                continue
            if t.kind in ("dissolve", "wipe") and any(_overlaps(t, g) and _outranks(g, t)
                                                      for g in gradual if g is not t):
                continue
            if t.boundary is not None:
                floor = self.min_shot_after_black if self._after_black else self.min_shot_frames
                if t.boundary - self._last_boundary < floor:
                    continue
                self._last_boundary = t.boundary
                self._after_black = t.boundary - 1 in self._recent_black
            accepted.append(t)
        self.transitions += accepted
        return [t for t in accepted if t.boundary is not None]


def shot_position(starts: np.ndarray, frame_index: int) -> int:
    """Position, in shots sorted by start frame (`starts`), of the shot that holds `frame_index`."""
    return max(0, int(np.searchsorted(starts, frame_index, side="right")) - 1)


def dissolve_ranges(transitions) -> list[tuple[int, int]]:
    """(first, last) frames of each dissolve or wipe in a transitions table: there two shots' pictures
    overlap, so what a detector finds may belong to either shot."""
    if transitions is None or not len(transitions):
        return []
    rows = transitions[transitions["kind"].isin(["dissolve", "wipe"])]
    return [(int(a), int(b)) for a, b in zip(rows["first"], rows["last"])]


def in_ranges(ranges: list[tuple[int, int]], frame_index: int) -> bool:
    return any(a <= frame_index <= b for a, b in ranges)
