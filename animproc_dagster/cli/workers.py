"""How many steps of a film's run `animproc run` executes at once, and how: one step at a time in its own process
(`--workers 1`), or Dagster's multiprocess executor with that many step processes forked from a forkserver that
has imported the definitions once (animproc_dagster/forkserver.py), so a step does not pay the ~10 s import of
dagster and the assets again."""
from __future__ import annotations

import os

from animproc.errors import AnimprocError
from animproc.threads import core_count

WORKERS_ENV = "ANIMPROC_WORKERS"
PRELOAD = ["animproc_dagster.forkserver"]


class WorkersError(AnimprocError):
    pass


def worker_count(requested: int | str | None = None) -> int:
    """`--workers N`, else ANIMPROC_WORKERS, else 1: on this project's 2-core machine step processes cost more CPU
    (each loads its own models) than the overlap saves (README "Both cores"), so overlapping is asked for, not
    assumed. `auto` is the usable cores. A value below 1 or not a number is refused, naming where it came from."""
    if requested is not None:
        source, value = "--workers", str(requested)
    elif os.environ.get(WORKERS_ENV, "").strip():
        source, value = WORKERS_ENV, os.environ[WORKERS_ENV].strip()
    else:
        return 1
    count = core_count(value)
    if count is None:
        raise WorkersError(f"{source}={value!r}: the number of steps run at once must be a whole number >= 1")
    return count


def film_job(name: str):
    """The job `name` of the code location: how a step process finds the job again (Dagster reconstructs it
    from this module function and its argument)."""
    from animproc_dagster.definitions import defs

    return defs.resolve_job_def(name)


def multiprocess_config(workers: int) -> dict | None:
    """The run config's `execution` section that runs up to `workers` steps at once, for the job's executor
    (Dagster's default or ANIMPROC_EXECUTOR=multiprocess); None where the executor is another one (celery, k8s,
    in_process): `animproc run` then executes in its own process as with one worker."""
    from animproc_dagster.executors import EXECUTOR_ENV

    config = {"max_concurrent": workers, "start_method": {"forkserver": {"preload_modules": PRELOAD}}}
    choice = os.environ.get(EXECUTOR_ENV, "").strip()
    if not choice:
        return {"config": {"multiprocess": config}}
    if choice == "multiprocess":
        return {"config": config}
    return None


def start_step_server(workers: int) -> None:
    """Start the forkserver of the step processes now, so its imports (~10 s) overlap with this process's own
    start-up and planning instead of delaying the first step; Dagster's executor then finds it running (and its
    own preload list, which adds its executor module, no longer applies: a step process imports that module
    itself, ~4 ms with dagster loaded). Only where the steps will run in step processes."""
    if workers < 2 or multiprocess_config(workers) is None:
        return
    import multiprocessing
    from multiprocessing import forkserver

    multiprocessing.get_context("forkserver").set_forkserver_preload(list(PRELOAD))
    forkserver.ensure_running()
