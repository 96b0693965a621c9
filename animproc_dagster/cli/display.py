"""How `animproc run` shows a run: live bars (rich) on a terminal, one bar per running step with its name, percent,
rate and ETA, or a bar that says what the step waits for; plain lines without control characters anywhere else
(CI, a log file, a pipe)."""
from __future__ import annotations

import os
import sys
from typing import Protocol, TextIO

from animproc.progress import ProgressReport


class Display(Protocol):
    def line(self, text: str) -> None: ...

    def started(self, step: str) -> None: ...

    def progress(self, step: str, report: ProgressReport, stamp: str) -> None: ...

    def waiting(self, step: str, why: str, stamp: str) -> None: ...

    def ended(self, step: str) -> None: ...

    def close(self) -> None: ...


class PlainDisplay:
    """A line per event and per progress report, as the run's log has them."""

    def __init__(self, out: TextIO | None = None):
        self.out = out or sys.stdout

    def line(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def started(self, step: str) -> None:
        pass

    def progress(self, step: str, report: ProgressReport, stamp: str) -> None:
        self.line(f"{stamp}   {step}: {report.text()}")

    def waiting(self, step: str, why: str, stamp: str) -> None:
        self.line(f"{stamp} {why}")

    def ended(self, step: str) -> None:
        pass

    def close(self) -> None:
        pass


class LiveDisplay:
    """rich bars below the event lines: a step's bar pulses until its first report, then shows the report's
    task, percent, rate and ETA; a waiting step's bar says what it waits for."""

    def __init__(self, console=None):
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

        self.console = console or Console(file=sys.stdout, highlight=False)
        self.bars = Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                             TextColumn("{task.fields[info]}"), console=self.console, transient=True)
        self.tasks: dict[str, int] = {}
        self.bars.start()

    def _task(self, step: str) -> int:
        if step not in self.tasks:
            self.tasks[step] = self.bars.add_task(step, total=None, info="")
        return self.tasks[step]

    def line(self, text: str) -> None:
        self.bars.console.print(text, markup=False, highlight=False)

    def started(self, step: str) -> None:
        self.bars.update(self._task(step), description=step, total=None, info="starting")

    def progress(self, step: str, report: ProgressReport, stamp: str) -> None:
        eta = report.eta_seconds
        info = f"{report.rate:.3g} {report.unit}/s" + (f", ETA {eta:.0f} s" if eta is not None else "")
        self.bars.update(self._task(step), description=f"{step} {report.task}", total=report.total,
                         completed=report.done, info=info)

    def waiting(self, step: str, why: str, stamp: str) -> None:
        self.bars.update(self._task(step), description=step, total=None, info=why)

    def ended(self, step: str) -> None:
        task = self.tasks.pop(step, None)
        if task is not None:
            self.bars.remove_task(task)

    def close(self) -> None:
        self.bars.stop()


def make_display() -> Display:
    """Bars on a terminal; plain lines when stdout is not one (or TERM is dumb)."""
    if sys.stdout.isatty() and os.environ.get("TERM", "") != "dumb":
        return LiveDisplay()
    return PlainDisplay()
