"""`animproc run`: plan what a film needs (selection, review gates, staleness) and run it job by job."""
from __future__ import annotations

import sys

from animproc_dagster.cli.common import _ensure_dagster_home, _fail, _instance, _storage
from animproc_dagster.cli.execute import _execute, release_dead_runs
from animproc_dagster.cli.workers import start_step_server, worker_count


def _selection(defs, names: list[str] | None, instance, film: str):
    from dagster import AssetKey

    from assets import optional_inputs

    graph = defs.resolve_asset_graph()
    all_keys = {k for k in graph.get_all_asset_keys() if graph.get(k).is_materializable}
    if not names:
        return sorted(all_keys, key=lambda k: k.to_user_string())
    unknown = [n for n in names if AssetKey(n) not in all_keys]
    if unknown:
        raise SystemExit(_fail(f"unknown asset(s) {', '.join(unknown)}; known: "
                               f"{', '.join(sorted(k.to_user_string() for k in all_keys))}"))
    chosen: set = set()
    todo = [AssetKey(n) for n in names]
    while todo:
        key = todo.pop()
        if key in chosen:
            continue
        chosen.add(key)
        optional = optional_inputs(graph.get(key).metadata)  # products of the reviews: used when they exist
        for parent in graph.get(key).parent_keys:
            if parent.to_user_string() in optional:
                continue
            if parent in all_keys and film not in instance.get_materialized_partitions(parent):
                todo.append(parent)  # missing upstream for this film: materialise it first
    for ad in defs.assets:
        keys = set(getattr(ad, "keys", []))
        if keys & chosen and not getattr(ad, "can_subset", True):
            chosen |= keys  # assets computed together are materialised together
    return sorted(chosen, key=lambda k: k.to_user_string())


def _gate_ready(instance, film: str, gate):
    """The film's finished review for `gate` (None while there is none). Its decision is reported as an
    observation of the gate asset, as the review sensor does, unless the sensor or an earlier run
    already reported it: one decision is acted on once."""
    from animproc_dagster.reviews import review_update

    st = _storage()
    update = review_update(st, film, gate, None)
    if update is None:
        print(f"{film}: {gate.kind} await review: `animproc review {gate.kind} {film}` (or `review: auto`)")
    elif update.error:
        print(f"animproc: {gate.kind} review not used: {update.error}", file=sys.stderr)
    elif not update.review.submitted:
        print(f"{film}: the {gate.kind} review is saved but not finished; finish it in the review page")
    else:
        if not update.reported(instance):
            for observation in update.observations(st):
                instance.report_runless_asset_event(observation)
        return update
    return None


def _run_in_progress(instance, film: str):
    """A run of this film that is queued or running (from the UI, a sensor or another `animproc run`): a
    second run would write the same products. Runs whose `animproc run` process is gone (killed) are released
    first, so they block neither this command nor the run queue."""
    from dagster import DagsterRunStatus, RunsFilter

    for line in release_dead_runs(instance):
        print(line, flush=True)
    statuses = [DagsterRunStatus.QUEUED, DagsterRunStatus.STARTING, DagsterRunStatus.STARTED,
                DagsterRunStatus.CANCELING]
    records = instance.get_run_records(RunsFilter(tags={"dagster/partition": film}, statuses=statuses), limit=1)
    return records[0].dagster_run if records else None


def _plan(instance, graph, film: str, job_name: str, gate, update, chosen) -> dict:
    """What this step of `animproc run` materialises, with why: the chosen assets in the job (--select), or
    the job's assets that are missing or out of date (a changed review, code version or upstream product)."""
    from animproc_dagster.jobs import job_keys
    from animproc_dagster.reviews import gate_assets
    from animproc_dagster.staleness import out_of_date

    keys = job_keys(graph, job_name)
    if chosen is not None:
        return {k: "selected" for k in chosen & keys}
    if gate is None:
        return {k: why for k, why in out_of_date(instance, graph, film).items() if k in keys}
    return gate_assets(instance, graph, keys, film, gate, update.versions)


def _detach(instance, job_name: str, film: str, keys, tags: dict) -> int:
    """Submit this step of the plan to the run queue and say how to follow it; what comes after it (the
    reviewed jobs) is the review sensor's, as for runs from the UI."""
    from animproc_dagster.cli.detach import submit_run

    run_id = submit_run(instance, job_name, film, keys, tags)
    print(f"submitted run {run_id} ({job_name}: {', '.join(k.to_user_string() for k in keys)}) to the run queue; "
          f"the daemon (`make ui` starts one) launches it. Follow it with `animproc status {film}` or in the UI.")
    print(run_id)
    return 0


def cmd_run(args) -> int:
    workers = worker_count(getattr(args, "workers", None))
    if not getattr(args, "detach", False):
        _ensure_dagster_home()  # the step server opens the instance once
        start_step_server(workers)
    from dagster import AssetKey

    from animproc_dagster.definitions import defs
    from animproc_dagster.jobs import job_keys
    from animproc_dagster.reviews import GATES, REVIEW_READERS
    from partitions import films

    instance = _instance()
    film = args.name
    if film not in films(instance):
        return _fail(f"no film named {film!r}; add it with `animproc film add {film} PATH`")
    names = [s.strip() for s in args.select.split(",") if s.strip()] if args.select else None
    chosen = set(_selection(defs, names, instance, film)) if names else None
    graph = defs.resolve_asset_graph()
    readers = {AssetKey(r) for r in REVIEW_READERS}
    tags: dict = {}
    ran: set = set()
    ok = True
    for job_name, gate in [("film_assets", None)] + [(g.job, g) for g in GATES]:  # a gate's job may write the
        update = _gate_ready(instance, film, gate) if gate is not None else None  # next review (review: auto)
        todo = _plan(instance, graph, film, job_name, gate, update, chosen) if update or gate is None else {}
        if gate is not None and update is None:
            if names and (behind := set(job_keys(graph, job_name)) & chosen):
                # chosen assets behind an unfinished review: said here, not as a failure inside Dagster
                _fail(f"{', '.join(sorted(k.to_user_string() for k in behind))} need(s) the finished "
                      f"{gate.kind} review of {film!r}; not run")
                ok = False
            break
        if chosen is not None and not set(todo) - readers:
            todo = {k: why for k, why in todo.items() if k not in ran}  # readers run twice only after reviews
        if not todo:
            if chosen is None:
                print(f"{film}: {job_name}: up to date")
            continue
        if chosen is None:
            print(f"{film}: {job_name}: " + ", ".join(f"{k.to_user_string()} ({why})" for k, why in
                                                      sorted(todo.items(), key=lambda kv: kv[0].to_user_string())))
        busy = _run_in_progress(instance, film)
        if busy is not None:
            print(f"animproc: film {film!r} has run {busy.run_id} ({busy.job_name}, {busy.status.value}) in "
                  "progress, which writes the same products; run again once it has finished", file=sys.stderr)
            return 1
        keys = sorted(todo, key=lambda k: k.to_user_string())
        if getattr(args, "detach", False):
            return _detach(instance, job_name, film, keys, {**tags, **(update.run_tag if update else {})})
        ok = _execute(instance, job_name, film, keys, {**tags, **(update.run_tag if update else {})}, workers)
        ran |= set(keys)
        if not ok:
            break
    print(f"outputs under {_storage().film_dir(film)}. Browse them with `make ui` (http://127.0.0.1:3000).")
    return 0 if ok else 1
