"""`animproc run` keeps the cores busy: up to N independent steps at once, each in a process of its own (issue 19)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from animproc.threads import usable_cores
from animproc_dagster.cli.workers import WORKERS_ENV, WorkersError, multiprocess_config, worker_count

ROOT = Path(__file__).resolve().parents[1]


def test_the_default_is_one_step_at_a_time_and_auto_is_the_cores_this_process_may_use_not_the_machines(monkeypatch):
    monkeypatch.delenv(WORKERS_ENV, raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2})
    assert worker_count() == 1 and worker_count("auto") == 3
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {3})
    assert usable_cores() == 1
    monkeypatch.setenv(WORKERS_ENV, "auto")
    assert worker_count() == 1


def test_the_flag_wins_over_the_environment_and_bad_values_are_refused_by_source(monkeypatch):
    monkeypatch.setenv(WORKERS_ENV, "4")
    assert worker_count() == 4 and worker_count(1) == 1
    for value in ("0", "two", "-1"):
        monkeypatch.setenv(WORKERS_ENV, value)
        with pytest.raises(WorkersError, match=f"{WORKERS_ENV}='{value}'"):
            worker_count()
    with pytest.raises(WorkersError, match="--workers='0'"):
        worker_count(0)


def test_step_processes_are_forked_from_a_preloaded_forkserver_for_the_default_and_multiprocess_executors(monkeypatch):
    monkeypatch.delenv("ANIMPROC_EXECUTOR", raising=False)
    default = multiprocess_config(3)["config"]["multiprocess"]
    assert default["max_concurrent"] == 3
    assert default["start_method"]["forkserver"]["preload_modules"] == ["animproc_dagster.forkserver"]
    monkeypatch.setenv("ANIMPROC_EXECUTOR", "multiprocess")
    assert multiprocess_config(2)["config"]["max_concurrent"] == 2
    for other in ("in_process", "celery", "k8s"):  # `animproc run` then runs the steps in its own process
        monkeypatch.setenv("ANIMPROC_EXECUTOR", other)
        assert multiprocess_config(2) is None


def _step_spans(home: Path) -> dict[str, tuple[float, float, str]]:
    """step -> (start, end, pid of its process) from the event log of the instance's only run."""
    from dagster import DagsterEventType, DagsterInstance

    os.environ["DAGSTER_HOME"] = str(home)
    with DagsterInstance.get() as instance:
        (run,) = instance.get_runs()
        starts, pids, spans = {}, {}, {}
        for rec in instance.all_logs(run.run_id):
            ev = rec.dagster_event
            if ev is None or not ev.step_key:
                continue
            if ev.event_type == DagsterEventType.STEP_WORKER_STARTED:
                pids[ev.step_key] = ev.event_specific_data.metadata["pid"].value
            elif ev.event_type == DagsterEventType.STEP_START:
                starts[ev.step_key] = rec.timestamp
            elif ev.event_type == DagsterEventType.STEP_SUCCESS:
                spans[ev.step_key] = (starts[ev.step_key], rec.timestamp, pids.get(ev.step_key))
    return spans


@pytest.mark.slow
def test_two_independent_steps_run_at_the_same_time_in_processes_of_their_own(tmp_path, sample_film, monkeypatch):
    """With two workers the audio extraction runs beside the shot detection (both need only `source_video`):
    `audio` starts before `shots_and_frames` has ended and the other way round, each step in a process of its
    own, and the progress lines still come on stdout."""
    env = {**os.environ, "ANIMPROC_DATA": str(tmp_path / "data"), "DAGSTER_HOME": str(tmp_path / "home"),
           "ANIMPROC_CONFIG_DIR": str(tmp_path / "configs")}
    env.pop(WORKERS_ENV, None)
    cli = [sys.executable, "-m", "animproc_dagster.cli"]
    subprocess.run([*cli, "film", "add", "f", str(sample_film[0])], env=env, cwd=tmp_path, check=True,
                   capture_output=True)
    run = subprocess.run([*cli, "run", "f", "--select", "audio,shots", "--workers", "2"], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "  audio: extract" in run.stdout and "  shots_and_frames: decode" in run.stdout and "done in" in run.stdout
    spans = _step_spans(tmp_path / "home")
    (a_start, a_end, _), (s_start, s_end, _) = spans["audio"], spans["shots_and_frames"]
    assert a_start < s_end and s_start < a_end, spans
    pids = {pid for _, _, pid in spans.values()}
    assert None not in pids and len(pids) == len(spans) and str(os.getpid()) not in pids
