"""Per-frame work spread over the cores a process may use. For steps whose heavy calls release the GIL
(OpenCV's functions do): `animproc run` executes one step at a time, so without this the second core of a
2-core machine idles while GrabCut runs. Results come back in input order and only a window of items is in
flight, so memory does not grow with the film."""
from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from animproc.errors import AnimprocError

T = TypeVar("T")
R = TypeVar("R")


class ThreadsError(AnimprocError):
    pass


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask, which a container or `taskset` narrows), not the
    machine's count."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # no affinity on this platform
        return max(1, os.cpu_count() or 1)


def core_count(text: str) -> int | None:
    """`auto` is the usable cores, a whole number of at least 1 is itself; None for anything else (the caller
    refuses it, naming its setting)."""
    if text == "auto":
        return usable_cores()
    return int(text) if text.isdigit() and int(text) >= 1 else None


def thread_count(value: int | str | None, source: str = "threads") -> int:
    """`auto` (or nothing) is the usable cores; otherwise a whole number of at least 1. A bad value is refused,
    naming `source` (the setting it came from)."""
    count = core_count("auto" if value is None else str(value).strip())
    if count is None:
        raise ThreadsError(f"{source}: expected 'auto' or a whole number of at least 1, got {value!r}")
    return count


def ordered_map(work: Callable[[T], R], items: Iterable[T], threads: int, window: int | None = None) -> Iterator[R]:
    """`work(item)` for each item, in the items' order. With one thread it runs inline (no pool: the path before
    threads); otherwise on `threads` worker threads, with at most `window` items (default twice the threads)
    taken from `items` and not yet handed back, so the producer (which runs on the caller's thread) stays
    ahead of the workers by a bounded amount. An error in `work` is raised when its item's turn comes."""
    if threads <= 1:
        yield from map(work, items)
        return
    window = max(1, window or 2 * threads)
    pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="animproc-work")
    pending: deque[Future] = deque()
    try:
        for item in items:
            pending.append(pool.submit(work, item))
            if len(pending) >= window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
