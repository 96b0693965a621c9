"""Shot-boundary accuracy against a reference: a detected boundary matches a reference transition when it
falls inside the transition's extent (widened by `tolerance` frames); each side is matched at most once."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class BoundaryScore:
    reference: int
    detected: int
    matched: int

    @property
    def precision(self) -> float:
        return self.matched / self.detected if self.detected else 1.0

    @property
    def recall(self) -> float:
        return self.matched / self.reference if self.reference else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def score_boundaries(reference: Sequence[tuple[int, int]], detected: Iterable[int], tolerance: int = 2) -> BoundaryScore:
    """`reference`: (first, last) frame extents of transitions that start a new shot; `detected`: the
    first frame of each detected shot after the first."""
    det = sorted(set(detected))
    used: set[int] = set()
    matched = 0
    for first, last in sorted(reference, key=lambda r: r[1] - r[0]):
        lo, hi = first - tolerance, last + tolerance
        centre = (first + last) / 2
        options = [d for d in det if lo <= d <= hi and d not in used]
        if options:
            used.add(min(options, key=lambda d: abs(d - centre)))
            matched += 1
    return BoundaryScore(len(reference), len(det), matched)
