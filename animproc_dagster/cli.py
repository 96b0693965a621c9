"""`animproc`: register films, materialise their assets, export results, make the sample film."""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def _ensure_dagster_home() -> Path:
    """DAGSTER_HOME defaults to ./.dagster, seeded with the project's dagster.yaml."""
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(Path.cwd() / ".dagster"))).resolve()
    home.mkdir(parents=True, exist_ok=True)
    settings = home / "dagster.yaml"
    if not settings.exists() and (PROJECT_ROOT / "dagster.yaml").exists():
        shutil.copyfile(PROJECT_ROOT / "dagster.yaml", settings)
    return home


def _instance():
    _ensure_dagster_home()
    from dagster import DagsterInstance

    return DagsterInstance.get()


def _storage():
    from resources.storage import StorageResource

    return StorageResource().storage()


def _products(film: str):
    """The film's products, read through the catalogue."""
    from animproc.catalogue import FilmProducts

    return FilmProducts(_storage(), film)


def _fail(message: str) -> int:
    print(f"animproc: {message}", file=sys.stderr)
    return 2


def cmd_film_add(args) -> int:
    from animproc.library import store_source
    from partitions import add_film, films

    instance = _instance()
    if args.name in films(instance) and not args.replace:
        return _fail(f"film {args.name!r} already exists; use --replace to store new media under it")
    info = store_source(_storage(), args.name, args.path)
    add_film(instance, args.name)
    vfr = " (variable frame rate)" if info.vfr else ""
    audio = ", ".join(f"{a.codec} {a.layout or a.channels}" for a in info.audio) or "no audio"
    print(f"added film {args.name!r}: {info.width}x{info.height} {info.video_codec}, {info.fps:g} fps{vfr}, "
          f"{info.frame_count} frames, {info.duration_s:.1f} s, audio: {audio}")
    print(f"  stored under {_storage().film_dir(args.name)}; materialise with `animproc run {args.name}`")
    return 0


def cmd_film_list(args) -> int:
    from animproc.library import film_record
    from partitions import films

    names = films(_instance())
    if not names:
        print("no films; add one with `animproc film add NAME PATH`")
    st = _storage()
    for name in names:
        rec = film_record(st, name) or {}
        probe = rec.get("probe", {})
        print(f"{name}\t{probe.get('duration_s', 0):.1f} s\t{probe.get('width')}x{probe.get('height')}\t"
              f"{rec.get('original_path', '(source missing)')}")
    return 0


def cmd_film_remove(args) -> int:
    from partitions import films, remove_film

    instance = _instance()
    if args.name not in films(instance):
        return _fail(f"no film named {args.name!r}")
    remove_film(instance, args.name)
    st = _storage()
    if args.purge:
        st.remove_tree(st.film_dir(args.name))
        print(f"removed film {args.name!r} and deleted its outputs under {st.film_dir(args.name)}")
    else:
        print(f"removed film {args.name!r} from the partitions; its outputs stay under {st.film_dir(args.name)} "
              f"(run history too). Add it again to reuse them, or remove with --purge to delete them.")
    return 0


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


PROCESS_TAG = "animproc/process"  # host:pid:start-time of the `animproc run` process executing a run in-process
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


def _execute(instance, job, film: str, selection, tags: dict | None = None) -> bool:
    """Run `selection` of `job` for one film in this process, printing progress as events arrive. The run is
    tagged with this process, so a later `animproc run` can tell it died; while a step waits for a pool slot,
    holders whose process is gone are released."""
    from dagster import DagsterEventType

    print(f"materialising {', '.join(k.to_user_string() for k in selection)} for film {film!r}", flush=True)
    run_id = str(uuid.uuid4())
    outcome: dict = {}

    def execute():
        try:
            outcome["result"] = job.execute_in_process(
                instance=instance, partition_key=film, asset_selection=selection, run_id=run_id,
                tags={**(tags or {}), PROCESS_TAG: _this_process()}, raise_on_error=False,
                run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}})
        except Exception as exc:  # reported below, after progress stops
            outcome["error"] = exc

    worker = threading.Thread(target=execute, daemon=True)
    started = time.perf_counter()
    worker.start()
    shown = 0
    waiting: set[str] = set()
    wanted = {DagsterEventType.STEP_START, DagsterEventType.ASSET_MATERIALIZATION, DagsterEventType.STEP_FAILURE,
              DagsterEventType.ASSET_CHECK_EVALUATION, DagsterEventType.ENGINE_EVENT}
    while True:
        alive = worker.is_alive()
        records = instance.all_logs(run_id)
        for rec in records[shown:]:
            ev = rec.dagster_event
            if ev is None or ev.event_type not in wanted:
                continue
            elapsed = f"[{time.perf_counter() - started:6.1f}s]"
            if ev.event_type == DagsterEventType.ENGINE_EVENT:
                pool = _blocked_pool(ev)
                if pool:
                    waiting.add(ev.step_key)
                    print(f"{elapsed} {_waiting_message(instance, ev.step_key, pool)}", flush=True)
            elif ev.event_type == DagsterEventType.STEP_START:
                waiting.discard(ev.step_key)
                print(f"{elapsed} running {ev.step_key}", flush=True)
            elif ev.event_type == DagsterEventType.ASSET_MATERIALIZATION:
                mat = ev.event_specific_data.materialization
                summary = {k: v.value for k, v in mat.metadata.items()
                           if isinstance(v.value, (int, float, str)) and len(str(v.value)) < 40}
                print(f"{elapsed}   materialised {mat.asset_key.to_user_string()}: "
                      + ", ".join(f"{k}={v}" for k, v in list(summary.items())[:6]), flush=True)
                if "warning" in mat.metadata:
                    print(f"{elapsed}   WARNING {mat.asset_key.to_user_string()}: {mat.metadata['warning'].value}", flush=True)
            elif ev.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
                check = ev.event_specific_data
                state = "passed" if check.passed else "FAILED"
                reason = f": {check.description}" if not check.passed and check.description else ""
                print(f"{elapsed}   check {check.check_name} {state}{reason}", flush=True)
            else:
                waiting.discard(ev.step_key)
                print(f"{elapsed} FAILED {ev.step_key}: {ev.event_specific_data.error.message.strip()}", flush=True)
        shown = len(records)
        if not alive:
            break
        if waiting:
            for line in release_dead_runs(instance):
                print(f"  {line}", flush=True)
        time.sleep(0.5)
    if "error" in outcome:
        print(f"animproc: run failed: {outcome['error']}", file=sys.stderr)
        return False
    ok = outcome["result"].success
    print(f"{'done' if ok else 'run failed'} in {time.perf_counter() - started:.1f} s (run {run_id})")
    return ok




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
            instance.report_runless_asset_event(update.observation(st))
        return update
    return None


def _run_in_progress(instance, film: str):
    """A run of this film that is queued or running (from the UI, a sensor or another `animproc run`): a
    second run would write the same products. A run left STARTED by an `animproc run` process that is gone
    (killed) is marked failed instead, so it blocks neither this command nor the run queue."""
    from dagster import DagsterRunStatus, RunsFilter

    statuses = [DagsterRunStatus.QUEUED, DagsterRunStatus.STARTING, DagsterRunStatus.STARTED,
                DagsterRunStatus.CANCELING]
    for record in instance.get_run_records(RunsFilter(tags={"dagster/partition": film}, statuses=statuses)):
        run = record.dagster_run
        process = run.tags.get(PROCESS_TAG)
        if process and _process_gone(process):
            instance.report_run_failed(run, f"the `animproc run` process {process} that ran it is gone")
            instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
            continue
        return run
    return None



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
    return gate_assets(instance, graph, keys, film, gate, update.version)


def cmd_run(args) -> int:
    from dagster import AssetKey

    from animproc_dagster.definitions import defs
    from animproc_dagster.jobs import job_keys
    from animproc_dagster.reviews import GATES, REVIEW_READERS
    from partitions import films

    instance = _instance()
    film = args.name
    if film not in films(instance):
        return _fail(f"no film named {film!r}; add it with `animproc film add {film} PATH`")
    for line in release_dead_runs(instance):
        print(line, flush=True)
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
        ok = _execute(instance, defs.resolve_job_def(job_name), film, keys,
                      {**tags, **(update.run_tag if update else {})})
        ran |= set(keys)
        if not ok:
            break
    print(f"outputs under {_storage().film_dir(film)}. Browse them with `make ui` (http://127.0.0.1:3000).")
    return 0 if ok else 1


def cmd_export_shots(args) -> int:
    from animproc.export import shots_csv, shots_json

    products = _products(args.name)
    if not products.has("shots", "shots"):
        return _fail(f"film {args.name!r} has no shots yet; run `animproc run {args.name} --select shots`")
    shots = products.table("shots", "shots")
    structure = products.optional_table("shot_structure")
    if structure is not None:
        shots = shots.merge(structure[["shot_id", "scale", "camera", "scene_id"]], on="shot_id", how="left")
    transitions = products.table("shots", "transitions")
    probe = products.json("source_video", "probe")
    text = shots_csv(shots) if args.format == "csv" else json.dumps(
        shots_json(args.name, shots, transitions, probe), indent=2)
    if args.output:
        Path(args.output).write_text(text)
        print(f"wrote {len(shots)} shots to {args.output}")
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


def _diarization_turns(name: str):
    table = _products(name).optional_table("diarization")
    if table is None:
        raise SystemExit(_fail(f"film {name!r} has no diarization yet; run `animproc run {name} --select diarization`"))
    return [(float(r.start), float(r.end), str(r.speaker)) for r in table.itertuples()], table


def cmd_export_rttm(args) -> int:
    from animproc.audio.diarize import SpeechSegment, to_rttm

    _, table = _diarization_turns(args.name)
    text = to_rttm([SpeechSegment(r.start, r.end, r.speaker, r.confidence, r.overlap) for r in table.itertuples()],
                   args.name)
    if args.output:
        Path(args.output).write_text(text)
        print(f"wrote {len(table)} speech turns to {args.output}")
    else:
        sys.stdout.write(text)
    return 0


def cmd_eval_diarization(args) -> int:
    from animproc.audio.diarize import parse_rttm
    from animproc.audio.evaluate import diarization_error

    hypothesis, _ = _diarization_turns(args.name)
    reference_path = Path(args.reference)
    if not reference_path.exists():
        return _fail(f"{reference_path}: reference RTTM does not exist")
    reference = parse_rttm(reference_path.read_text())
    if not reference:
        return _fail(f"{reference_path}: no SPEAKER lines found")
    r = diarization_error(reference, hypothesis, collar=args.collar)
    print(f"DER {r['der']:.2%} (collar {args.collar:g} s) over {r['total_s']:.1f} s of reference speech")
    print(f"  missed speech  {r['missed']:.2%} ({r['missed_s']:.2f} s)")
    print(f"  false alarm    {r['false_alarm']:.2%} ({r['false_alarm_s']:.2f} s)")
    print(f"  confusion      {r['confusion']:.2%} ({r['confusion_s']:.2f} s)")
    print(f"  speakers: reference {len({t[2] for t in reference})}, found {len({t[2] for t in hypothesis})}")
    return 0


def _face_analyzer(backend: str | None):
    from resources.face_analyzer import FaceAnalyzerResource

    return FaceAnalyzerResource(**({"backend": backend} if backend else {})).model()


def cmd_cluster_images(args) -> int:
    from animproc.errors import AnimprocError
    from animproc.identity.images import cluster_images

    folder = Path(args.folder)
    if not folder.is_dir():
        return _fail(f"{folder}: not a folder")
    try:
        result = cluster_images(folder, _face_analyzer(args.backend), args.min_cluster_size, args.min_samples,
                                args.selection_method, None if args.reduce == 0 else args.reduce, args.epsilon)
    except AnimprocError as exc:
        return _fail(str(exc))
    text = json.dumps(result, indent=1)
    output = Path(args.output) if args.output else folder / "identity_clusters.json"
    output.write_text(text)
    sizes = ", ".join(f"{c}: {v['size']}" for c, v in result["clusters"].items()) or "none"
    noise = sum(1 for faces in result["images"].values() for f in faces if f["cluster"] == -1)
    print(f"{result['faces']} faces in {len(result['images'])} images; clusters (faces each) {sizes}; noise {noise}")
    if result["unreadable"]:
        print(f"  unreadable images skipped: {', '.join(result['unreadable'])}")
    print(f"  assignment written to {output}")
    return 0


def cmd_eval_identities(args) -> int:
    from animproc.errors import AnimprocError
    from animproc.identity.images import film_assignment, load_reference, score_assignment

    if args.name and not args.assignment and _is_screen_truth(Path(args.reference)):
        return _eval_identities_on_screen(args.name, Path(args.reference))
    try:
        reference = load_reference(Path(args.reference))
        if args.assignment:
            assignment = json.loads(Path(args.assignment).read_text())
        elif args.name:
            assignment = film_assignment(_storage(), args.name)
        else:
            return _fail("give a film NAME or --assignment FILE (from `animproc cluster-images`)")
    except (AnimprocError, OSError, json.JSONDecodeError) as exc:
        return _fail(str(exc))
    s = score_assignment(assignment, reference)
    print(f"purity {s['purity']:.3f}  coverage {s['coverage']:.3f}  ARI {s['ari']:.3f}  clusters {s['clusters']} "
          f"(reference identities {s['reference_identities']}, faces scored {s['faces']})")
    for scene, people in s["multi_face_scenes"].items():
        print(f"  {scene}: " + ", ".join(f"{p} {'in' if ok else 'NOT in'} their cluster" for p, ok in people.items()))
    if s["missing_images"]:
        print(f"  no face found in: {', '.join(s['missing_images'])}")
    return 0


def _is_screen_truth(path: Path) -> bool:
    try:
        return "on_screen" in json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, TypeError):
        return False


def _eval_identities_on_screen(name: str, reference: Path) -> int:
    """A film's face clusters against a ground truth that places every character's face on every frame (the
    sample film's `.truth.json`)."""
    from animproc.identity.evaluate import identity_scores, labels_on_screen

    faces = _products(name).optional_table("identity_clusters", "faces")
    if faces is None:
        return _fail(f"{name}: no identity_clusters yet (materialise it first)")
    predicted, labels = labels_on_screen(faces, json.loads(reference.read_text())["on_screen"])
    s = identity_scores(predicted, labels)
    print(f"purity {s['purity']:.3f}  coverage {s['coverage']:.3f}  ARI {s['ari']:.3f}  clusters {s['clusters']} "
          f"(reference identities {s['reference_identities']}, faces scored {s['faces']})")
    for who in sorted(set(labels)):
        counts = Counter(p for p, r in zip(predicted, labels) if r == who)
        print(f"  {who}: " + ", ".join(f"cluster {c} x{n}" if c >= 0 else f"noise x{n}" for c, n in counts.most_common()))
    return 0


def cmd_eval_shot_structure(args) -> int:
    from animproc.temporal.evaluate import structure_scores

    table = _products(args.name).optional_table("shot_structure")
    if table is None:
        return _fail(f"film {args.name!r} has no shot_structure yet; "
                     f"run `animproc run {args.name} --select shot_structure`")
    try:
        reference = json.loads(Path(args.reference).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        return _fail(f"{args.reference}: cannot read the reference ({exc})")
    shots = reference.get("shots") if isinstance(reference, dict) else reference
    if not isinstance(shots, list) or not all(isinstance(s, dict) and {"start_frame", "end_frame"} <= set(s)
                                              for s in shots):
        return _fail(f"{args.reference}: expected a list of shots (or {{'shots': [...]}}), each with "
                     "start_frame, end_frame and the labels scale and camera")
    scores = structure_scores(table, shots)
    print(f"{scores['matched']} of {scores['reference_shots']} reference shots matched to detected shots")
    for attr in ("scale", "camera"):
        if attr not in scores:
            continue
        s = scores[attr]
        print(f"{attr}: accuracy {s['accuracy']:.3f} over {s['shots']} shots")
        for ref_label, row in s["confusion"].items():
            print(f"  {ref_label:>18} -> " + ", ".join(f"{k} {v}" for k, v in row.items()))
    return 0


def cmd_eval_separation(args) -> int:
    from animproc.audio.evaluate import si_sdr
    from animproc.audio.extract import read_mono

    import tempfile

    for p in (args.mixture, args.reference, args.estimate):
        if p and not Path(p).exists():
            return _fail(f"{p}: file does not exist")
    with tempfile.TemporaryDirectory(prefix="animproc-eval-") as tmp:
        if args.estimate:
            estimate_path, label = Path(args.estimate), args.estimate
        else:
            from animproc.audio.separate import EmbeddedSeparator, separate_file

            estimate_path, label = Path(tmp) / "vocals.flac", "embedded separator"
            separate_file(EmbeddedSeparator(), args.mixture, estimate_path, Path(tmp) / "accompaniment.flac")
        mixture, reference, estimate = (read_mono(p) for p in (args.mixture, args.reference, estimate_path))
    before, after = si_sdr(mixture, reference), si_sdr(estimate, reference)
    print(f"SI-SDR of the mixture   {before:6.2f} dB")
    print(f"SI-SDR of the estimate  {after:6.2f} dB  ({label})")
    print(f"improvement (SI-SDRi)   {after - before:6.2f} dB")
    return 0


def cmd_sample_film(args) -> int:
    from animproc.sample.film import render_sample_film

    started = time.perf_counter()
    truth = render_sample_film(args.output)
    out = Path(args.output)
    print(f"wrote {out} ({truth['frame_count']} frames, {truth['duration']:.0f} s, {len(truth['shots'])} shots) "
          f"with ground truth {out.with_suffix('.truth.json')} and {out.with_suffix('.rttm')} "
          f"in {time.perf_counter() - started:.1f} s")
    return 0


def cmd_review(args) -> int:
    from animproc.errors import AnimprocError
    from animproc.films import validate_film_key
    from animproc.review.server import ReviewServer
    from animproc.review.sources import identities_source, instances_source

    try:
        validate_film_key(args.name)
        st = _storage()
        if not st.film_dir(args.name).exists():
            return _fail(f"no film named {args.name!r}; add it with `animproc film add {args.name} PATH`")
        makers = {"instances": instances_source, "identities": identities_source}
        # the asked-for gate first (the root leads there); the others are served when they have something
        sources = [makers[args.kind](st, args.name)] + [m(st, args.name) for k, m in makers.items() if k != args.kind]
        server = ReviewServer(st, args.name, sources, args.host, args.port)
    except AnimprocError as exc:
        return _fail(str(exc))
    except OSError as exc:
        return _fail(f"cannot listen on {args.host}:{args.port}: {exc}")
    others = ", ".join(server.url_for(s) for s in server.sources if s != args.kind and server.ready(s))
    print(f"reviewing the {args.kind} of {args.name!r} at {server.url_for(args.kind)}  (Ctrl+C to stop)")
    if others:
        print(f"  the same server also serves {others}")
    print(f"  decisions are saved to {st.film_dir(args.name) / 'reviews' / (args.kind + '.json')}; press "
          f"'Finish review' and the review sensor (or `animproc run {args.name}`) runs what follows")
    if args.open:
        import webbrowser

        webbrowser.open(server.url_for(args.kind))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="animproc", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    film = sub.add_parser("film", help="register, list and remove films").add_subparsers(dest="film_cmd", required=True)
    add = film.add_parser("add", help="probe a video, store it under the storage root and register the film")
    add.add_argument("name", help="film key: a lowercase slug such as 'my-film'")
    add.add_argument("path", help="mp4, mkv, mov or webm file")
    add.add_argument("--replace", action="store_true", help="store new media under an existing film")
    add.set_defaults(func=cmd_film_add)
    film.add_parser("list", help="registered films").set_defaults(func=cmd_film_list)
    rm = film.add_parser("remove", help="unregister a film (outputs are kept unless --purge)")
    rm.add_argument("name")
    rm.add_argument("--purge", action="store_true", help="also delete the film's stored media and outputs")
    rm.set_defaults(func=cmd_film_remove)
    run = sub.add_parser("run", help="materialise a film's assets, with progress")
    run.add_argument("name")
    run.add_argument("--select", help="comma-separated asset names; missing upstream assets are added")
    run.set_defaults(func=cmd_run)
    review = sub.add_parser("review", help="serve the local review page of a film's review gate")
    review.add_argument("kind", choices=["instances", "identities"], help="which gate")
    review.add_argument("name")
    review.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    review.add_argument("--port", type=int, default=8765)
    review.add_argument("--open", action="store_true", help="open the page in a browser")
    review.set_defaults(func=cmd_review)
    export = sub.add_parser("export", help="write results in interchange formats").add_subparsers(
        dest="export_cmd", required=True)
    shots = export.add_parser("shots", help="the shot list as CSV (PySceneDetect columns) or JSON")
    shots.add_argument("name")
    shots.add_argument("--format", choices=["csv", "json"], default="csv")
    shots.add_argument("--output", "-o", help="file to write (default: standard output)")
    shots.set_defaults(func=cmd_export_shots)
    rttm = export.add_parser("rttm", help="the film's diarization as RTTM")
    rttm.add_argument("name")
    rttm.add_argument("--output", "-o", help="file to write (default: standard output)")
    rttm.set_defaults(func=cmd_export_rttm)
    evaluate = sub.add_parser("eval", help="compare results with a reference").add_subparsers(
        dest="eval_cmd", required=True)
    der = evaluate.add_parser("diarization", help="DER with its parts against a reference RTTM (pyannote.metrics)")
    der.add_argument("name")
    der.add_argument("--reference", required=True, help="reference RTTM file")
    der.add_argument("--collar", type=float, default=0.0, help="forgiveness collar around reference boundaries, s")
    der.set_defaults(func=cmd_eval_diarization)
    sep = evaluate.add_parser("separation", help="SI-SDR of a vocals estimate and its improvement over the mixture")
    sep.add_argument("--mixture", required=True, help="the mixture (any audio or video file)")
    sep.add_argument("--reference", required=True, help="the clean dialogue")
    sep.add_argument("--estimate", help="vocals to score (default: run the embedded separator on the mixture)")
    sep.set_defaults(func=cmd_eval_separation)
    ident = evaluate.add_parser("identities", help="purity, coverage, ARI and cluster count of identity clusters")
    ident.add_argument("name", nargs="?", help="a film (its identity_clusters asset)")
    ident.add_argument("--reference", required=True,
                       help="JSON mapping image or instance file names to identity labels, or a ground truth "
                            "listing the characters' face boxes per frame (`on_screen`, as the sample film's)")
    ident.add_argument("--assignment", help="an assignment JSON written by `animproc cluster-images` instead of a film")
    ident.set_defaults(func=cmd_eval_identities)
    struct = evaluate.add_parser("shot-structure", help="accuracy and confusion of shot scale and camera movement")
    struct.add_argument("name")
    struct.add_argument("--reference", required=True,
                        help='JSON {"shots": [{"start_frame", "end_frame", "scale", "camera"}, ...]}')
    struct.set_defaults(func=cmd_eval_shot_structure)
    clus = sub.add_parser("cluster-images", help="face analysis + identity clustering on a plain folder of images")
    clus.add_argument("folder")
    clus.add_argument("--output", help="assignment JSON (default FOLDER/identity_clusters.json)")
    clus.add_argument("--min-cluster-size", type=int, default=2)
    clus.add_argument("--min-samples", type=int)
    clus.add_argument("--selection-method", choices=["eom", "leaf"], default="eom")
    clus.add_argument("--reduce", type=int, default=32, help="PCA dimensions before HDBSCAN (0: none)")
    clus.add_argument("--epsilon", type=float, default=0.0, help="HDBSCAN cluster_selection_epsilon")
    clus.add_argument("--backend", choices=["embedded", "insightface"], help="face analyzer (default: environment)")
    clus.set_defaults(func=cmd_cluster_images)
    sample = sub.add_parser("sample-film", help="render the synthetic sample film with its ground truth")
    sample.add_argument("output", help="path of the mp4 to write")
    sample.set_defaults(func=cmd_sample_film)
    return p


def main(argv: list[str] | None = None) -> int:
    import warnings

    warnings.filterwarnings("ignore", module="dagster")
    args = build_parser().parse_args(argv)
    from animproc.errors import AnimprocError

    try:
        return args.func(args)
    except AnimprocError as exc:
        return _fail(str(exc))


if __name__ == "__main__":
    sys.exit(main())
