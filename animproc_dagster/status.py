"""Where each of a film's assets stands, read from the instance: materialised or not, fresh or stale (the same
judgement `animproc run` plans by, animproc_dagster/staleness.py, with finished reviews not yet reported counted
as what they will be), the last run's time and duration, and what runs now (with its latest progress report),
waits (in the run queue, for a pool slot) or failed since (with the first line of the error)."""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

from dagster import AssetKey, DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter

from animproc.progress import ProgressReport, parse_line
from animproc_dagster.staleness import latest_event, out_of_date

ACTIVE = (DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING,
          DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING)
RECENT_RUNS = 25  # finished runs of the film searched for failures newer than an asset's materialisation


@dataclass
class AssetStatus:
    asset: str
    materialised: bool
    state: str  # "fresh", "stale", "missing"; "observed" / "not reported" for a review (an external asset)
    reason: str | None = None  # why it is stale
    last_run: str | None = None  # ISO time (UTC) of the latest materialisation or observation
    duration_s: float | None = None  # of the step that made it
    run_id: str | None = None
    now: str | None = None  # "running", "waiting", "queued", "failed"
    detail: str | None = None  # progress, what it waits for, or the error's first line
    progress: dict | None = field(default=None)

    def to_dict(self) -> dict:
        return asdict(self)


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def step_assets(defs) -> dict[str, list[AssetKey]]:
    """Step key (the op's name) -> the assets it materialises."""
    out: dict[str, list[AssetKey]] = {}
    for ad in defs.assets:
        if getattr(ad, "is_executable", False) and hasattr(ad, "node_def"):
            out.setdefault(ad.node_def.name, []).extend(ad.keys)
    return out


def pending_reviews(instance: DagsterInstance, film: str) -> dict[AssetKey, str]:
    """Finished reviews on disk that are not reported yet (the sensor or `animproc run` will): gate asset ->
    the decision version it will have."""
    from animproc_dagster.cli.common import _storage
    from animproc_dagster.reviews import GATES, review_update

    st, out = _storage(), {}
    for gate in GATES:
        update = review_update(st, film, gate, None)
        if update and not update.error and update.review.submitted and not update.reported(instance):
            out.update({AssetKey(asset): version for asset, version in update.versions.items()})
    return out


def _step_duration(instance: DagsterInstance, run_id: str, step_key: str | None) -> float | None:
    if not step_key:
        return None
    stats = instance.get_run_step_stats(run_id, step_keys=[step_key])
    if stats and stats[0].start_time and stats[0].end_time:
        return round(stats[0].end_time - stats[0].start_time, 2)
    return None


def _queue_reason(instance: DagsterInstance, run) -> str:
    """What a queued run waits for: a run of the same film (one per film at a time), a free run slot, or the
    daemon that launches queued runs."""
    started = [DagsterRunStatus.STARTING, DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING]
    film = run.tags.get("dagster/partition")
    ahead = instance.get_run_records(RunsFilter(tags={"dagster/partition": film}, statuses=started), limit=1)
    if ahead:
        return f"waits for run {ahead[0].dagster_run.run_id} of the same film to finish"
    running = instance.get_runs_count(RunsFilter(statuses=started))
    if running:
        return f"waits for a free run slot ({running} run(s) in progress)"
    return "waits for the daemon to launch it (`make ui` starts one)"


def _active_steps(instance: DagsterInstance, run) -> dict[str, tuple[str, str, ProgressReport | None]]:
    """step key -> (now, detail, latest report) for a run in the queue or under way; "*" for the run's other
    assets (queued with it, or waiting for the steps before them)."""
    if run.status in (DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED):
        return {"*": ("queued", f"in the run queue (run {run.run_id}): {_queue_reason(instance, run)}", None)}
    state: dict[str, tuple[str, str, ProgressReport | None]] = {
        "*": ("planned", f"in run {run.run_id} ({run.status.value.lower()}), after the steps before it", None)}
    for rec in instance.all_logs(run.run_id):
        ev, step = rec.dagster_event, rec.step_key
        if not step:
            continue
        if ev is None:
            report = parse_line(rec.user_message or "")
            if report is not None and step in state:
                state[step] = ("running", report.text(), report)
        elif ev.event_type == DagsterEventType.ENGINE_EVENT and "blocked by limit for pool" in (ev.message or ""):
            state[step] = ("waiting", f"waits for a slot in pool {ev.message.rsplit(' ', 1)[-1]!r}", None)
        elif ev.event_type == DagsterEventType.STEP_START:
            state[step] = ("running", "started", None)
        elif ev.event_type in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE,
                               DagsterEventType.STEP_SKIPPED):
            state[step] = ("done", "", None)
    return state


def _first_error_line(event) -> str:
    """A step failure's first line: the failure's own description (the project's errors name the file and the
    problem), else the error without its exception class."""
    data = event.event_specific_data
    user = getattr(data, "user_failure_data", None)
    message = (user.description if user and user.description else
               data.error.message if data.error else event.message or "failed").strip()
    first = message.splitlines()[0] if message else "failed"
    return re.sub(r"^[A-Za-z_][\w.]*(Error|Exception|Failure|Interrupt): ", "", first)


def _failures(instance: DagsterInstance, film: str) -> dict[str, tuple[float, str, str]]:
    """step key -> (time, run id, first line of the error) of its newest failure in the film's recent runs."""
    out: dict[str, tuple[float, str, str]] = {}
    records = instance.get_run_records(RunsFilter(tags={"dagster/partition": film},
                                                  statuses=[DagsterRunStatus.FAILURE]), limit=RECENT_RUNS)
    for record in records:
        for rec in instance.all_logs(record.dagster_run.run_id, of_type=DagsterEventType.STEP_FAILURE):
            first = _first_error_line(rec.dagster_event)
            if rec.step_key not in out or rec.timestamp > out[rec.step_key][0]:
                out[rec.step_key] = (rec.timestamp, record.dagster_run.run_id, first)
    return out


def film_status(instance: DagsterInstance, defs, film: str) -> list[AssetStatus]:
    """Every asset of the code location for `film`, in dependency order."""
    graph = defs.resolve_asset_graph()
    pending = pending_reviews(instance, film)
    stale = out_of_date(instance, graph, film, pending)
    steps = step_assets(defs)
    step_of = {k: step for step, keys in steps.items() for k in keys}
    active: dict[AssetKey, tuple[str, str, ProgressReport | None]] = {}
    for record in instance.get_run_records(RunsFilter(tags={"dagster/partition": film}, statuses=list(ACTIVE))):
        run = record.dagster_run
        states = _active_steps(instance, run)
        for step, state in states.items():
            if step != "*" and state[0] != "done":
                for key in steps.get(step, []):
                    active.setdefault(key, state)
        done = {k for step, state in states.items() if state[0] == "done" for k in steps.get(step, [])}
        for key in (run.asset_selection or set(step_of)) - done:
            active.setdefault(key, states["*"])
    failed = _failures(instance, film)
    rows = []
    for key in graph.toposorted_asset_keys:
        node = graph.get(key)
        external = not node.is_materializable
        record = latest_event(instance, key, film, external)
        row = AssetStatus(key.to_user_string(), record is not None, "missing")
        if record is not None:
            entry = record.event_log_entry
            row.last_run, row.run_id = _iso(record.timestamp), entry.run_id
            if not external:
                row.duration_s = _step_duration(instance, entry.run_id, entry.step_key)
        if external:
            row.state = "not reported" if key in pending else ("observed" if record else "missing")
        elif key in stale:
            row.state = "missing" if stale[key] == "missing" else "stale"
            row.reason = None if stale[key] == "missing" else stale[key]
        else:
            row.state = "fresh"
        step = step_of.get(key)
        if key in active:
            row.now, row.detail, report = active[key]
            row.progress = report.to_dict() if report else None
        elif step in failed and (record is None or failed[step][0] > record.timestamp):
            row.now, row.detail = "failed", failed[step][2]
            row.run_id = failed[step][1]
        rows.append(row)
    return rows
