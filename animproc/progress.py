"""Progress of the long loops (decode passes, separation, segmentation, faces, ...), reported by the core through
one small interface so that Dagster's log, the CLI's bars and `animproc status` all show the same numbers.

A loop asks its `Progress` for a `Task` (name, total, unit) and tells it how far it is; the reporter decides when
to pass a `ProgressReport` on: each time another `every_share` (5%) of the total is done, or `every_seconds`
(30 s) after the last report, whichever comes first, and once at the end. The core never imports Dagster: the
sink is any callable (the asset scaffold logs the report's `line()`)."""
from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

PREFIX = "PROGRESS"
EVERY_SHARE = 0.05
EVERY_SECONDS = 30.0


@dataclass(frozen=True)
class ProgressReport:
    """How far one task of a step is: `done` of `total` `unit`s (total None when not known) after `seconds`."""
    task: str
    unit: str
    done: float
    total: float | None
    seconds: float
    finished: bool = False

    @property
    def rate(self) -> float:
        """Units per second since the task started."""
        return self.done / self.seconds if self.seconds > 0 else 0.0

    @property
    def share(self) -> float | None:
        return min(1.0, self.done / self.total) if self.total else None

    @property
    def eta_seconds(self) -> float | None:
        """Seconds left at the rate so far; None without a total or a rate."""
        if self.finished:
            return 0.0
        if not self.total or self.rate <= 0:
            return None
        return max(0.0, (self.total - self.done) / self.rate)

    def _body(self) -> str:
        amount = f"{_number(self.done)}/{_number(self.total)} {self.unit} ({100 * self.share:.1f}%)" \
            if self.total else f"{_number(self.done)} {self.unit}"
        eta = self.eta_seconds
        parts = [amount, f"{_rate(self.rate)} {self.unit}/s"]
        if eta is not None:
            parts.append("done" if self.finished else f"ETA {eta:.0f} s")
        return f"{', '.join(parts)}, {self.seconds:.1f} s elapsed"

    def line(self) -> str:
        """The one format every step logs, e.g. `PROGRESS decode: 1500/4000 frames (37.5%), 52.1 frames/s, ETA
        48 s, 28.8 s elapsed` (`parse_line` reads it back)."""
        return f"{PREFIX} {self.task}: {self._body()}"

    def text(self) -> str:
        """The report for people: `decode 1500/4000 frames (37.5%), 52.1 frames/s, ETA 48 s, 28.8 s elapsed`."""
        return f"{self.task} {self._body()}"

    def to_dict(self) -> dict:
        """Strict-JSON summary (the step's metadata, `animproc status --json`)."""
        eta = self.eta_seconds
        return {"task": self.task, "unit": self.unit, "done": _plain(self.done),
                "total": _plain(self.total) if self.total is not None else None, "seconds": round(self.seconds, 2),
                "rate": round(self.rate, 3), "eta_seconds": round(eta, 1) if eta is not None else None,
                "finished": self.finished}


_LINE = re.compile(rf"^{PREFIX} (?P<task>[^:]+): (?P<done>[\d.]+)(?:/(?P<total>[\d.]+))? (?P<unit>[^(,]+?)"
                   r"(?: \([\d.]+%\))?, [\d.e+-]+ [^,]+/s(?:, (?P<eta>done|ETA [\d.]+ s))?, "
                   r"(?P<seconds>[\d.]+) s elapsed$")


def parse_line(message: str) -> ProgressReport | None:
    """The report a `ProgressReport.line()` wrote; None for any other message."""
    m = _LINE.match(message.strip())
    if m is None:
        return None
    return ProgressReport(m["task"], m["unit"], float(m["done"]), float(m["total"]) if m["total"] else None,
                          float(m["seconds"]), finished=m["eta"] == "done")


def _rate(x: float) -> str:
    return f"{x:.0f}" if x >= 100 else f"{x:.3g}"


def _number(x: float | None) -> str:
    return str(int(x)) if x is not None and float(x).is_integer() else f"{x:.1f}"


def _plain(x: float) -> int | float:
    return int(x) if float(x).is_integer() else round(float(x), 3)


class Task(Protocol):
    def update(self, done: float) -> None: ...

    def advance(self, amount: float = 1) -> None: ...

    def finish(self) -> None: ...


class Progress(Protocol):
    """What a long core loop is given: `task = progress.task("decode", total, "frames")`, then
    `task.update(done)` or `task.advance(n)` as it goes and `task.finish()` at the end."""

    def task(self, name: str, total: float | None, unit: str) -> Task: ...


class _SilentTask:
    def update(self, done: float) -> None:
        pass

    def advance(self, amount: float = 1) -> None:
        pass

    def finish(self) -> None:
        pass


class _Silent:
    def task(self, name: str, total: float | None, unit: str) -> Task:
        return _SilentTask()


NO_PROGRESS: Progress = _Silent()


class ReportedTask:
    """Counts one task and hands reports to the sink at the promised rate."""

    def __init__(self, name: str, total: float | None, unit: str, sink: Callable[[ProgressReport], None],
                 every_share: float, every_seconds: float, clock: Callable[[], float]):
        self.name, self.total, self.unit, self.sink, self.clock = name, total, unit, sink, clock
        self.step = every_share * total if total else math.inf
        self.every_seconds = every_seconds
        self.started = self.last_time = clock()
        self.done = 0.0
        self.next_mark = self.step
        self.finished = False
        self._report()

    def update(self, done: float) -> None:
        self.done = float(done)
        if self.total is not None and self.done >= self.total:
            return  # the end is reported by finish(), once
        if self.done >= self.next_mark or self.clock() - self.last_time >= self.every_seconds:
            self._report()

    def advance(self, amount: float = 1) -> None:
        self.update(self.done + amount)

    def finish(self) -> None:
        if not self.finished:
            self.finished = True
            if self.total is not None:
                self.done = max(self.done, float(self.total))
            self._report()

    def _report(self) -> None:
        now = self.clock()
        self.last_time = now
        if self.step != math.inf:
            self.next_mark = (math.floor(self.done / self.step + 1e-9) + 1) * self.step
        self.sink(ProgressReport(self.name, self.unit, self.done, self.total, now - self.started, self.finished))


class ProgressReporter:
    """A `Progress` that passes reports to `sink` every `every_share` of a task's total or every
    `every_seconds`, whichever comes first (and at its start and end), and keeps each task's latest report."""

    def __init__(self, sink: Callable[[ProgressReport], None] = lambda report: None,
                 every_share: float = EVERY_SHARE, every_seconds: float = EVERY_SECONDS,
                 clock: Callable[[], float] = time.monotonic):
        self.sink, self.every_share, self.every_seconds, self.clock = sink, every_share, every_seconds, clock
        self.latest: dict[str, ProgressReport] = {}

    def _keep(self, report: ProgressReport) -> None:
        self.latest[report.task] = report
        self.sink(report)

    def task(self, name: str, total: float | None, unit: str) -> ReportedTask:
        return ReportedTask(name, total if total and total > 0 else None, unit, self._keep, self.every_share,
                            self.every_seconds, self.clock)
