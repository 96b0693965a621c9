"""Sensors: media dropped into `{root}/inbox/` becomes a registered film with a run requested; a finished
review file becomes an observation of its gate asset with a run of the assets its decision makes out of
date (once: a decision `animproc run` already reported is left alone)."""
import json
import time
from pathlib import Path

from dagster import DefaultSensorStatus, RunRequest, SensorEvaluationContext, SensorResult, SkipReason, sensor

from animproc.errors import AnimprocError, FilmKeyError
from animproc.films import MEDIA_SUFFIXES, slugify
from animproc.library import store_source
from animproc_dagster.jobs import gate_jobs, job_keys
from animproc_dagster.reviews import GATES, gate_assets, review_update
from animproc_dagster.staleness import keys_named
from partitions import film_partitions
from resources.storage import StorageResource

INBOX = "inbox"
SETTLE_SECONDS = 5.0  # a file still being copied keeps changing; wait until it has been still this long


def _inbox_files(storage) -> list:
    inbox = storage.root / INBOX
    if not inbox.exists():
        return []
    return sorted(p for p in inbox.iterdir() if p.suffix.lower() in MEDIA_SUFFIXES and not p.name.startswith("."))


@sensor(job_name="film_assets", minimum_interval_seconds=30, default_status=DefaultSensorStatus.RUNNING,
        description="Registers media files dropped in {root}/inbox/ as films and requests a run of each.")
def inbox_sensor(context: SensorEvaluationContext, storage: StorageResource):
    st = storage.storage()
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    known = set(context.instance.get_dynamic_partitions(film_partitions.name))
    new_films, runs = [], []
    now = time.time()
    for path in _inbox_files(st):
        stat = path.stat()
        signature = f"{stat.st_size}:{int(stat.st_mtime)}"
        if seen.get(path.name) == signature:
            continue
        if now - stat.st_mtime < SETTLE_SECONDS:
            continue  # still arriving; look again next tick
        seen[path.name] = signature
        try:
            film = slugify(Path(path.name).stem)
        except FilmKeyError as exc:
            context.log.error(f"{path}: {exc}")
            continue
        if film in known or film in new_films:
            context.log.warning(f"{path}: film {film!r} is already registered; remove it first to replace it")
            continue
        try:
            with st.local_copy(path) as local:
                store_source(st, film, local)
        except AnimprocError as exc:
            context.log.error(f"{path}: not registered: {exc}")
            continue
        context.log.info(f"registered {path.name} as film {film!r}")
        new_films.append(film)
        runs.append(RunRequest(partition_key=film, run_key=f"inbox:{film}:{signature}"))
    cursor = json.dumps(seen, sort_keys=True)
    if not new_films:
        return SensorResult(skip_reason=SkipReason("no new media in the inbox"), cursor=cursor)
    return SensorResult(run_requests=runs, cursor=cursor,
                        dynamic_partitions_requests=[film_partitions.build_add_request(new_films)])


@sensor(jobs=list(gate_jobs.values()), minimum_interval_seconds=15, default_status=DefaultSensorStatus.RUNNING,
        description="Watches {root}/{film}/reviews/*.json. A finished review is reported as an observation of "
                    "its gate asset (instance_review, ...) and the assets its decision makes out of date run for "
                    "that film, once. A malformed or half-written file is reported in this log and starts nothing.")
def review_sensor(context: SensorEvaluationContext, storage: StorageResource):
    st = storage.storage()
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    events, runs = [], []
    for film in context.instance.get_dynamic_partitions(film_partitions.name):
        for gate in GATES:
            key = f"{film}/{gate.kind}"
            update = review_update(st, film, gate, seen.get(key))
            if update is None:
                continue
            seen[key] = update.digest
            if update.error:
                context.log.error(f"review not used: {update.error}")
                continue
            if not update.review.submitted:
                context.log.info(f"{film}: {gate.kind} review saved (version {update.review.version}), not finished yet")
                continue
            if update.reported(context.instance):
                context.log.info(f"{film}: {gate.kind} decision {update.version} is already recorded (by `animproc "
                                 "run` or an earlier tick): not acting on it again")
                continue
            graph = _asset_graph(context)
            todo = gate_assets(context.instance, graph, job_keys(graph, gate.job), film, gate, update.versions)
            events.extend(update.observations(st))
            if not todo:
                context.log.info(f"{film}: {gate.kind} review version {update.review.version} changes nothing "
                                 "downstream")
                continue
            runs.append(RunRequest(job_name=gate.job, partition_key=film, asset_selection=sorted(todo),
                                   run_key=f"review:{film}:{gate.kind}:{update.version}", tags=update.run_tag))
            context.log.info(f"{film}: {gate.kind} review version {update.review.version} finished: running "
                             f"{', '.join(keys_named(todo))}")
    cursor = json.dumps(seen, sort_keys=True)
    if not runs and not events:
        return SensorResult(skip_reason=SkipReason("no finished review changed"), cursor=cursor)
    return SensorResult(asset_events=events, run_requests=runs, cursor=cursor)


def _asset_graph(context: SensorEvaluationContext):
    if context.repository_def is not None:
        return context.repository_def.asset_graph
    from animproc_dagster.definitions import defs  # a context built in a test carries no definitions

    return defs.resolve_asset_graph()
