"""Signals a command must be able to receive, whoever started it.

A process started in the background (`cmd &`, `nohup cmd &` without job control) inherits SIGINT ignored. Dagster
maps SIGTERM to SIGINT's handler when it executes a run, so SIGTERM is then ignored too, and every process the run
starts inherits that: the `tail` processes that mirror compute logs to the terminal survive the run's attempt to
end them, outlive `animproc`, and hold its stdout open, so a caller that reads it (a script, a test harness)
waits forever."""
from __future__ import annotations

import signal


def restore_interrupts() -> None:
    """SIGINT raises KeyboardInterrupt and SIGTERM ends the process again where they were inherited ignored."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if signal.getsignal(signal.SIGTERM) == signal.SIG_IGN:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
