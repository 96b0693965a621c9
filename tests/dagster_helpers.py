"""Running a film's job or the `animproc` command on a test instance, as the UI and a user do."""
import subprocess
import sys
from pathlib import Path

from dagster import DagsterInstance, Definitions

from partitions import add_film, films


def run_film(defs: Definitions, instance: DagsterInstance, film: str, **kwargs):
    """Register `film` if needed and execute the film job for its partition."""
    if film not in films(instance):
        add_film(instance, film)
    return defs.resolve_job_def("film_assets").execute_in_process(instance=instance, partition_key=film, **kwargs)


def run_cli(cwd: Path, env: dict[str, str], *args: str, ok: bool = True,
            timeout: float = 900) -> subprocess.CompletedProcess:
    """`animproc ARGS` as a user would run it (a subprocess in `cwd` with `env`); with `ok` it fails the test,
    showing the output, unless the command succeeds."""
    proc = subprocess.run([sys.executable, "-m", "animproc_dagster.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)
    if ok:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc
