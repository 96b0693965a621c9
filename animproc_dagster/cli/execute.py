"""One run of a job with progress lines, its steps in this process or up to N at once in step processes; runs
whose process died are released, so their pool slots do not block later runs."""
from __future__ import annotations

import os
import socket
import sys
import threading
import time
import uuid
from pathlib import Path


PROCESS_TAG = "animproc/process"  # host:pid:start-time of the `animproc run` process that executes a run
INVOCATION_TAG = "animproc/invocation"  # unique per _execute call: how the run is found once Dagster creates it
UNFINISHED = ("NOT_STARTED", "STARTING", "STARTED", "CANCELING")


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux), so a reused pid is not taken for the run's;
    "" where there is no /proc, and "dead" for a zombie (killed, not yet reaped by its parent)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return ""
    return "dead" if fields[0] in ("Z", "X") else fields[19]


def _this_process() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{_start_time(os.getpid())}"


def _process_gone(tag: str) -> bool:
    """Whether the process named by a run's PROCESS_TAG has ended. Runs of other hosts are never judged."""
    host, _, rest = tag.partition(":")
    pid, _, started = rest.partition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass
    now = _start_time(int(pid))
    return now == "dead" or (bool(started) and bool(now) and now != started)


def _slot_holders(instance) -> dict[str, set[str]]:
    """run id -> the pools in which it holds a slot or waits for one."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return {}
    holders: dict[str, set[str]] = {}
    for pool in storage.get_concurrency_keys():
        info = storage.get_concurrency_info(pool)
        for run_id in {s.run_id for s in info.claimed_slots} | {s.run_id for s in info.pending_steps}:
            holders.setdefault(run_id, set()).add(pool)
    return holders


def release_dead_runs(instance) -> list[str]:
    """Runs that `animproc run` executed in a process that is gone (killed, crashed, machine rebooted) are
    marked failed, and pool slots held or awaited by them, or by any run that has ended, are freed: without
    this a `kill -9` keeps the `gpu` slot taken and every later run waits forever. Returns what was done."""
    from dagster import DagsterRunStatus, RunsFilter

    done = []
    statuses = [DagsterRunStatus(s) for s in UNFINISHED]
    for record in instance.get_run_records(RunsFilter(statuses=statuses)):
        run = record.dagster_run
        tag = run.tags.get(PROCESS_TAG)
        if tag and _process_gone(tag):
            instance.report_run_failed(run, message=f"the process that ran it ({tag}) is gone (killed?); "
                                                    "marked failed by `animproc run`")
            instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
            done.append(f"run {run.run_id} ({run.job_name}, film {run.tags.get('dagster/partition')!r}) died "
                        f"with its process {tag}: marked failed, its pool slots freed")
    for run_id, pools in _slot_holders(instance).items():
        run = instance.get_run_by_id(run_id)
        if run is None or run.is_finished:
            instance.event_log_storage.free_concurrency_slots_for_run(run_id)
            done.append(f"freed the {', '.join(sorted(pools))} pool slots of ended run {run_id}")
    return done


def _waiting_message(instance, step_key: str, pool: str) -> str:
    holders = []
    if instance.event_log_storage.supports_global_concurrency_limits:
        for slot in instance.event_log_storage.get_concurrency_info(pool).claimed_slots:
            run = instance.get_run_by_id(slot.run_id)
            film = run.tags.get("dagster/partition") if run else None
            holders.append(f"run {slot.run_id} step {slot.step_key}" + (f" of film {film!r}" if film else ""))
    held = f"held by {', '.join(holders)}" if holders else "being handed over"
    return f"{step_key} waits for a free slot in pool {pool!r} ({held})"


def _blocked_pool(ev) -> str | None:
    """The pool a step waits for, from Dagster's 'Step blocked by limit for pool X' engine event."""
    message = ev.message or ""
    if ev.step_key and "blocked by limit for pool" in message:
        return message.rsplit(" ", 1)[-1]
    return None


def _execute(instance, job_name: str, film: str, selection, tags: dict | None = None, workers: int = 1) -> bool:
    """Run `selection` of job `job_name` for one film, showing progress as events arrive (bars on a terminal,
    plain lines otherwise): up to `workers` independent steps at once in step processes (Dagster's multiprocess
    executor), or with one worker in this process. The run is tagged with this process, so a later
    `animproc run` can tell it died; while a step waits for a pool slot, holders whose process is gone are
    released."""
    from animproc_dagster.cli.display import make_display
    from animproc_dagster.cli.workers import multiprocess_config

    print(f"materialising {', '.join(k.to_user_string() for k in selection)} for film {film!r}", flush=True)
    execution = multiprocess_config(workers) if workers > 1 else None
    run_tags = {**(tags or {}), PROCESS_TAG: _this_process(), INVOCATION_TAG: str(uuid.uuid4())}
    run_config = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    outcome: dict = {}

    def execute():
        try:
            outcome["result"] = (_in_process(instance, job_name, film, selection, run_tags, run_config)
                                 if execution is None else
                                 _in_step_processes(instance, job_name, film, selection, run_tags,
                                                    {**run_config, "execution": execution}))
        except Exception as exc:  # reported below, after progress stops
            outcome["error"] = exc

    worker = threading.Thread(target=execute, daemon=True)
    started = time.perf_counter()
    worker.start()
    display = make_display()
    try:
        run_id = _follow(instance, run_tags[INVOCATION_TAG], worker, started, display)
    finally:
        display.close()
    if "error" in outcome:
        print(f"animproc: run failed: {outcome['error']}", file=sys.stderr)
        return False
    ok = outcome["result"].success
    print(f"{'done' if ok else 'run failed'} in {time.perf_counter() - started:.1f} s (run {run_id})")
    return ok


def _in_process(instance, job_name: str, film: str, selection, tags: dict, run_config: dict):
    """Every step one after another in this process."""
    from animproc_dagster.definitions import defs

    return defs.resolve_job_def(job_name).execute_in_process(
        instance=instance, partition_key=film, asset_selection=selection, tags=tags, raise_on_error=False,
        run_config=run_config)


def _in_step_processes(instance, job_name: str, film: str, selection, tags: dict, run_config: dict):
    """Each step in a process of its own, forked from a forkserver that has the code location loaded; the
    executor starts a step as soon as its inputs exist and fewer than `max_concurrent` steps run."""
    from dagster import build_reconstructable_job, execute_job

    job = build_reconstructable_job("animproc_dagster.cli.workers", "film_job", (job_name,))
    return execute_job(job, instance=instance, run_config=run_config, asset_selection=list(selection),
                       tags={**tags, "dagster/partition": film}, raise_on_error=False)


def _run_id(instance, invocation: str) -> str | None:
    """The id of the run this `animproc run` started (tagged `invocation`), once Dagster has created it."""
    from dagster import RunsFilter

    ids = instance.get_run_ids(RunsFilter(tags={INVOCATION_TAG: invocation}), limit=1)
    return ids[0] if ids else None


def _follow(instance, invocation: str, worker: threading.Thread, started: float, display) -> str | None:
    """Show the run's events and progress reports until `worker` (the run) ends; returns the run's id."""
    from dagster import DagsterEventType

    from animproc.progress import parse_line

    shown = 0
    waiting: set[str] = set()
    wanted = {DagsterEventType.STEP_START, DagsterEventType.ASSET_MATERIALIZATION, DagsterEventType.STEP_FAILURE,
              DagsterEventType.ASSET_CHECK_EVALUATION, DagsterEventType.ENGINE_EVENT, DagsterEventType.STEP_SUCCESS}
    run_id = None
    while True:
        alive = worker.is_alive()
        run_id = run_id or _run_id(instance, invocation)
        records = instance.all_logs(run_id) if run_id else []
        for rec in records[shown:]:
            ev = rec.dagster_event
            elapsed = f"[{time.perf_counter() - started:6.1f}s]"
            if ev is None:
                report = parse_line(rec.user_message or "") if rec.step_key else None
                if report is not None:
                    display.progress(rec.step_key, report, elapsed)
                continue
            if ev.event_type not in wanted:
                continue
            if ev.event_type == DagsterEventType.ENGINE_EVENT:
                pool = _blocked_pool(ev)
                if pool:
                    waiting.add(ev.step_key)
                    display.waiting(ev.step_key, _waiting_message(instance, ev.step_key, pool), elapsed)
            elif ev.event_type == DagsterEventType.STEP_START:
                waiting.discard(ev.step_key)
                display.started(ev.step_key)
                display.line(f"{elapsed} running {ev.step_key}")
            elif ev.event_type == DagsterEventType.STEP_SUCCESS:
                display.ended(ev.step_key)
            elif ev.event_type == DagsterEventType.ASSET_MATERIALIZATION:
                mat = ev.event_specific_data.materialization
                summary = {k: v.value for k, v in mat.metadata.items()
                           if isinstance(v.value, (int, float, str)) and len(str(v.value)) < 40}
                display.line(f"{elapsed}   materialised {mat.asset_key.to_user_string()}: "
                             + ", ".join(f"{k}={v}" for k, v in list(summary.items())[:6]))
                if "warning" in mat.metadata:
                    display.line(f"{elapsed}   WARNING {mat.asset_key.to_user_string()}: "
                                 f"{mat.metadata['warning'].value}")
            elif ev.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
                check = ev.event_specific_data
                state = "passed" if check.passed else "FAILED"
                reason = f": {check.description}" if not check.passed and check.description else ""
                display.line(f"{elapsed}   check {check.check_name} {state}{reason}")
            else:
                waiting.discard(ev.step_key)
                display.ended(ev.step_key)
                display.line(f"{elapsed} FAILED {ev.step_key}: {ev.event_specific_data.error.message.strip()}")
        shown = len(records)
        if not alive:
            return run_id
        if waiting:
            for line in release_dead_runs(instance):
                display.line(f"  {line}")
        time.sleep(0.5)
