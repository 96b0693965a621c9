"""What the forkserver of `animproc run`'s step processes imports before it forks them: the code location (dagster,
the assets, the resources) and the instance's storage (sqlalchemy, alembic: ~1.5 CPU s a step otherwise), so each
step starts with them loaded. Only the forkserver imports this module.

Every step process forked from here dies with the forkserver, which ends when `animproc run` ends: a `kill -9`
of `animproc run` then leaves no step process behind that would go on writing a product of a run that
`animproc run` has since marked failed (animproc_dagster/cli/execute.py). For that the step processes let go of
the pipe by which the forkserver sees its clients alive (multiprocessing hands each forked process a copy, so
the server would outlive `animproc run` as long as any step runs)."""
from __future__ import annotations

import ctypes
import os
import signal
from multiprocessing import forkserver, util

import animproc_dagster.definitions  # noqa: F401  (the point: loaded once, shared by every step process)

PR_SET_PDEATHSIG = 1
_SERVER = os.getpid()


SHARED_LIBRARIES = ("torch", "sklearn.cluster")  # imported by several steps (voices, clustering): ~3 CPU s each


def _load_shared_libraries() -> None:
    """Import what several steps import, once; one that is not installed is left to the steps that need it.
    Importing starts no thread (their thread pools start on first use, in the step process), so forking after
    it is safe."""
    import importlib

    for name in SHARED_LIBRARIES:
        try:
            importlib.import_module(name)
        except ImportError:
            pass


def _load_the_instance_code() -> None:
    """Open and close the instance once, which imports its storage modules; the step processes open their own."""
    from dagster import DagsterInstance

    try:
        DagsterInstance.get().dispose()
    except Exception:  # no DAGSTER_HOME here: each step imports what its instance needs
        pass


def _die_with_the_server() -> None:
    """In a forked step process: SIGKILL when its parent (the forkserver) exits; exits at once where the
    server is already gone. Without prctl (not Linux) the step runs on, as Dagster's own step processes do."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if os.getppid() != _SERVER:
        os._exit(1)


def _let_go_of_the_liveness_pipe(_) -> None:
    """In a step process, once multiprocessing has handed it the server's liveness pipe: close it, so that only
    `animproc run` keeps the server alive. (multiprocessing's attribute; where it has moved, nothing is done.)"""
    server = getattr(forkserver, "_forkserver", None)
    fd = getattr(server, "_forkserver_alive_fd", None)
    if fd is not None:
        os.close(fd)
        server._forkserver_alive_fd = None


class _StepProcesses:
    """The key multiprocessing's after-fork registry wants (it holds its callbacks by a live object)."""


_STEP_PROCESSES = _StepProcesses()
_load_the_instance_code()
_load_shared_libraries()
os.register_at_fork(after_in_child=_die_with_the_server)
util.register_after_fork(_STEP_PROCESSES, _let_go_of_the_liveness_pipe)
