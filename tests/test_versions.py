"""Versioned re-runs: code versions, data versions from content and from review decisions, and one run of
exactly the assets a review decision affects, whether it arrives through `animproc run` or the review sensor."""
import os
import socket
import subprocess
import sys
import uuid

import pytest
from dagster import (AssetKey, AssetObservation, AssetRecordsFilter, AssetSpec, DagsterInstance, DagsterRun,
                     DagsterRunStatus, DataVersion, Definitions, MaterializeResult, asset, build_sensor_context,
                     define_asset_job, instance_for_test)

from animproc.product_version import product_version
from animproc.review.labels import Review, load_review, save_review
from animproc.storage import Storage
from animproc_dagster.definitions import build_defs
from animproc_dagster.jobs import job_keys
from animproc_dagster.reviews import (GATES, REVIEW_READERS, REVIEW_TAG, decision_version, gate_assets,
                                      part_versions, review_update)
from animproc_dagster.sensors import review_sensor
from animproc_dagster.staleness import out_of_date
from partitions import film_partitions
from resources.film_config import FilmConfigResource
from resources.storage import StorageResource
from dagster_helpers import run_cli
from test_cli import ROOT

FILM = "sample"


def test_every_asset_has_a_code_version():
    graph = build_defs().resolve_asset_graph()
    missing = [k.to_user_string() for k in graph.get_all_asset_keys() if not graph.get(k).code_version]
    assert missing == []


def test_product_version_follows_tables_and_file_sizes(tmp_path):
    st = Storage(tmp_path)
    folder = st.asset_dir("f", "frames")
    st.write_text(folder / "manifest.json", '{"frames": 2}')
    st.write_bytes(folder / "images" / "0.jpg", b"x" * 10)
    first = product_version(st, "f", "frames")
    assert product_version(st, "f", "frames") == first
    st.write_bytes(folder / "images" / "0.jpg", b"y" * 10)  # same size: binaries are not read
    assert product_version(st, "f", "frames") == first
    st.write_bytes(folder / "images" / "0.jpg", b"y" * 11)
    resized = product_version(st, "f", "frames")
    st.write_text(folder / "manifest.json", '{"frames": 3}')
    assert len({first, resized, product_version(st, "f", "frames")}) == 3


def test_decision_version_ignores_saving_again_and_follows_decisions(tmp_path):
    st = Storage(tmp_path)
    decisions = {"clusters": {"0": {"name": "ava", "character": True}}, "faces": {"f0": "0"}}
    first = save_review(st, Review("demo", "identities", submitted=True, decisions=decisions), 0)
    again = save_review(st, load_review(st, "demo", "identities"), first.version)
    assert again.version == first.version + 1 and decision_version(again) == decision_version(first)
    renamed = load_review(st, "demo", "identities")
    renamed.decisions["clusters"]["0"]["name"] = "bo"
    assert decision_version(renamed) != decision_version(first)


def test_a_voice_decision_changes_only_the_voice_review_version(tmp_path):
    """The identity gate reports `decisions.voices` as voice_review, apart from the rest: a voice decision moves
    only voice_review's data version, a rename only identity_review's, and a review without voices keeps the
    whole decision version as identity_review's (what it was before the voices had an asset of their own)."""
    st = Storage(tmp_path)
    gate = next(g for g in GATES if g.kind == "identities")
    decisions = {"clusters": {"0": {"name": "ava", "character": True}}, "faces": {"f0": "0"}}
    plain = save_review(st, Review("demo", "identities", submitted=True, decisions=decisions), 0)
    first = part_versions(plain, gate)
    assert set(first) == {"identity_review", "voice_review"} and first["identity_review"] == decision_version(plain)
    voiced = save_review(st, Review("demo", "identities", submitted=True,
                                    decisions={**decisions, "voices": {"speaker_00": {"character": "ava"}}}), 1)
    second = part_versions(voiced, gate)
    assert second["identity_review"] == first["identity_review"] and second["voice_review"] != first["voice_review"]
    voiced.decisions["clusters"]["0"]["name"] = "bo"
    third = part_versions(voiced, gate)
    assert third["voice_review"] == second["voice_review"] and third["identity_review"] != second["identity_review"]
    update = review_update(st, "demo", gate, None)
    assert [o.asset_key.to_user_string() for o in update.observations(st)] == ["identity_review", "voice_review"]
    assert [o.tags["dagster/data_version"] for o in update.observations(st)] == [second["identity_review"],
                                                                              second["voice_review"]]


def _toy_defs():
    """source -> review (external, observed) -> named -> sheet, all partitioned by film."""
    @asset(partitions_def=film_partitions, code_version="1")
    def source():
        return MaterializeResult(data_version=DataVersion("s1"))

    review = AssetSpec("review", partitions_def=film_partitions, deps=["source"])

    @asset(partitions_def=film_partitions, code_version="1", deps=["source", "review"])
    def named():
        return MaterializeResult()

    @asset(partitions_def=film_partitions, code_version="1", deps=["named"])
    def sheet():
        return MaterializeResult()

    return Definitions(assets=[source, review, named, sheet],
                       jobs=[define_asset_job("all", partitions_def=film_partitions)])


def _observe(instance, film: str, version: str) -> None:
    instance.report_runless_asset_event(AssetObservation("review", partition=film,
                                                         tags={"dagster/data_version": version}))


def test_out_of_date_follows_a_changed_review_downstream_only_for_its_film():
    defs = _toy_defs()
    graph = defs.resolve_asset_graph()
    with instance_for_test() as instance:
        instance.add_dynamic_partitions("film", ["a", "b"])
        assert set(out_of_date(instance, graph, "a")) == {AssetKey("source"), AssetKey("named"), AssetKey("sheet")}
        for film in ("a", "b"):
            _observe(instance, film, "r1")
            assert defs.resolve_job_def("all").execute_in_process(instance=instance, partition_key=film).success
        assert out_of_date(instance, graph, "a") == {} and out_of_date(instance, graph, "b") == {}
        _observe(instance, "b", "r2")  # a later event of another film: film a's provenance still holds
        assert out_of_date(instance, graph, "a") == {}
        assert out_of_date(instance, graph, "b") == {AssetKey("named"): "review changed",
                                                      AssetKey("sheet"): "named runs first"}
        assert set(out_of_date(instance, graph, "a", {AssetKey("review"): "r3"})) == {AssetKey("named"),
                                                                                      AssetKey("sheet")}
        _observe(instance, "b", "r1")  # back to the decision it ran with: nothing to do
        assert out_of_date(instance, graph, "b") == {}


def test_a_changed_code_version_makes_the_asset_and_its_downstream_out_of_date():
    defs = _toy_defs()
    with instance_for_test() as instance:
        instance.add_dynamic_partitions("film", ["a"])
        _observe(instance, "a", "r1")
        assert defs.resolve_job_def("all").execute_in_process(instance=instance, partition_key="a").success

        @asset(partitions_def=film_partitions, code_version="2", deps=["source", "review"])
        def named():
            return MaterializeResult()

        bumped = Definitions(assets=[*[a for a in defs.assets if getattr(a, "key", None) != AssetKey("named")], named])
        assert out_of_date(instance, bumped.resolve_asset_graph(), "a") == {
            AssetKey("named"): "code version 1 -> 2", AssetKey("sheet"): "named runs first"}


def test_dagster_yaml_queues_one_run_per_film(tmp_path):
    (tmp_path / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
    instance = DagsterInstance.from_config(str(tmp_path))
    limits = instance.get_concurrency_config().run_queue_config.tag_concurrency_limits
    assert {"key": "dagster/partition", "value": {"applyLimitPerUniqueValue": True}, "limit": 1} in limits


def _materialisations(instance, key: str) -> int:
    over_films = key == "datasets_all_films"  # not partitioned: every film's run materialises it
    records_filter = AssetRecordsFilter(asset_key=AssetKey(key), asset_partitions=None if over_films else [FILM])
    return len(instance.fetch_materializations(records_filter, limit=1000).records)


def _observations(instance, key: str) -> int:
    records_filter = AssetRecordsFilter(asset_key=AssetKey(key), asset_partitions=[FILM])
    return len(instance.fetch_observations(records_filter, limit=1000).records)


def _mtimes(root, assets) -> dict:
    return {str(p): p.stat().st_mtime_ns for a in assets for p in (root / FILM / a).rglob("*") if p.is_file()}


def _downstream(graph, key: AssetKey) -> set:
    found, todo = set(), [key]
    while todo:
        children = set(graph.get(todo.pop()).child_keys) - found
        found |= children
        todo += children
    return found


def _rename_first_character(st, name: str) -> Review:
    review = load_review(st, FILM, "identities")
    first = sorted(review.decisions["clusters"])[0]
    review.decisions["clusters"][first]["name"] = name
    return save_review(st, review, review.version)


def _one_identity_rerun(instance, tick, expected: list[str], decided: Review):
    """The one run the review sensor's tick requests for the identity decision `decided`, checked to re-run
    exactly `expected` of FILM; the tick's observations are reported to the instance as the daemon would."""
    [request] = tick.run_requests
    assert request.job_name == "identities_reviewed" and request.partition_key == FILM
    assert sorted(k.to_user_string() for k in request.asset_selection) == expected
    assert request.tags[REVIEW_TAG] == f"identities:{decision_version(decided)}"
    for event in tick.asset_events:
        instance.report_runless_asset_event(event)
    return request


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.fixture(scope="module")
def finished_film(tmp_path_factory, sample_film):
    """The sample film through `animproc run` with `review: auto`, shared by this module's end-to-end tests:
    (the `animproc` runner, its folder holding data/, configs/ and dagster_home/). Each test leaves it up to
    date."""
    root = tmp_path_factory.mktemp("finished")
    env = {**os.environ, "ANIMPROC_DATA": str(root / "data"), "DAGSTER_HOME": str(root / "dagster_home"),
           "ANIMPROC_CONFIG_DIR": str(root / "configs")}

    def cli(*args: str, ok: bool = True) -> subprocess.CompletedProcess:
        return run_cli(root, env, *args, ok=ok, timeout=2400)

    (root / "configs").mkdir()
    (root / "configs" / f"{FILM}.yaml").write_text("review: auto\n")
    cli("film", "add", FILM, str(sample_film[0]))
    cli("run", FILM)
    return cli, root


def _defs_of(root):
    instance = DagsterInstance.from_config(str(root / "dagster_home"))
    storage = StorageResource(root=str(root / "data"))
    defs = build_defs(storage, FilmConfigResource(config_dir=str(root / "configs")))
    return instance, storage, defs


def test_a_voice_decision_reruns_character_voices_and_what_reads_it_through_the_sensor_once(finished_film):
    """A reviewer maps a diarized speaker to another character in the identity review
    (`decisions.voices.{speaker}`): the review sensor requests one run of exactly character_voices and the
    assets downstream of it (not characters, whose names did not change, nor anything upstream), that run
    writes the reviewer's mapping, and neither the sensor nor `animproc run` acts on the decision again."""
    cli, root = finished_film
    instance, storage, defs = _defs_of(root)
    st = storage.storage()
    graph = defs.resolve_asset_graph()
    voices = graph.get(AssetKey("character_voices")).key
    reading = {k for k in _downstream(graph, voices) if graph.get(k).is_materializable} | {voices}
    expected = sorted(k.to_user_string() for k in reading & job_keys(graph, "identities_reviewed"))
    assert {"character_voices", "film_timeline", "dataset_character_multimodal"} <= set(expected)
    assert not {"characters", "active_speakers", "identity_clusters", "pose_subclusters"} & set(expected)
    all_keys = [k.to_user_string() for k in graph.get_all_asset_keys() if graph.get(k).is_materializable]
    counts = {k: _materialisations(instance, k) for k in all_keys}
    characters_files = _mtimes(root / "data", ["characters", "active_speakers"])

    mapping = st.read_parquet(st.asset_dir(FILM, "character_voices") / "mapping.parquet")
    names = sorted(set(st.read_parquet(st.asset_dir(FILM, "characters") / "index.parquet")["character"]))
    speaker = str(mapping["speaker"].iloc[0])
    was = mapping["character"].iloc[0]
    chosen = next(n for n in names if n != was)
    review = load_review(st, FILM, "identities")
    review.decisions["voices"] = {speaker: {"character": chosen}}
    decided = save_review(st, review, review.version)

    tick = review_sensor(build_sensor_context(instance=instance, resources={"storage": storage}, definitions=defs))
    request = _one_identity_rerun(instance, tick, expected, decided)
    assert defs.resolve_job_def(request.job_name).execute_in_process(
        instance=instance, partition_key=FILM, asset_selection=request.asset_selection, tags=request.tags).success

    for key, before in counts.items():
        assert _materialisations(instance, key) == before + (key in expected), key
    assert _mtimes(root / "data", ["characters", "active_speakers"]) == characters_files
    after = st.read_parquet(st.asset_dir(FILM, "character_voices") / "mapping.parquet").set_index("speaker")
    assert after.loc[speaker, "character"] == chosen and after.loc[speaker, "reason"] == f"reviewer: {chosen}"
    assert after.loc[speaker, "confidence"] == 1.0
    again = review_sensor(build_sensor_context(instance=instance, cursor=tick.cursor, resources={"storage": storage},
                                               definitions=defs))
    assert not again.run_requests and not again.asset_events
    restarted = review_sensor(build_sensor_context(instance=instance, resources={"storage": storage},
                                                   definitions=defs))  # no cursor: the decision is recorded
    assert not restarted.run_requests
    assert "materialising" not in cli("run", FILM).stdout


def test_renaming_one_identity_reruns_only_what_follows_identity_review_once(finished_film):
    """A finished film (review: auto). `animproc run` again runs nothing. One identity renamed: exactly the
    assets downstream of identity_review (and the assets that read the names, REVIEW_READERS) run once, shots,
    frames and instances are neither recomputed nor rewritten; the sensor then finds the decision acted on.
    A second rename taken by the sensor first: `animproc run` refuses to overlap its run, and once it has run
    finds nothing left to do. A run left STARTED by a killed `animproc run` blocks nothing. A changed
    instance decision makes only what follows instance_review out of date, never `instances`."""
    cli, tmp_path = finished_film
    data, configs = tmp_path / "data", tmp_path / "configs"
    again = cli("run", FILM).stdout
    assert "materialising" not in again and again.count(": up to date") == 1 + len(GATES), again

    instance = DagsterInstance.from_config(str(tmp_path / "dagster_home"))
    storage = StorageResource(root=str(data))
    st = storage.storage()
    defs = build_defs(storage, FilmConfigResource(config_dir=str(configs)))
    graph = defs.resolve_asset_graph()
    all_keys = [k.to_user_string() for k in graph.get_all_asset_keys()]
    identity_review = AssetKey("identity_review")
    affected = _downstream(graph, identity_review)
    names_readers = {AssetKey(r) for r in REVIEW_READERS}
    expected = sorted(k.to_user_string() for k in affected | names_readers)
    untouched = [k for k in all_keys if AssetKey(k) not in affected | names_readers and k != "identity_review"]
    assert {"characters", "pose_subclusters"} <= set(expected) and {"shots", "frames", "instances"} <= set(untouched)
    counts = {k: _materialisations(instance, k) for k in all_keys}
    mtimes = _mtimes(data, ["shots", "frames", "instances"])
    for product in ("characters", "shots", "frames"):  # products carry their content version (returned, yielded)
        latest = instance.fetch_materializations(AssetKey(product), limit=1).records[0]
        assert latest.event_log_entry.tags["dagster/data_version"] == product_version(st, FILM, product)

    renamed = _rename_first_character(st, "ava")
    stale = out_of_date(instance, graph, FILM, {identity_review: decision_version(renamed)})
    assert {k.to_user_string() for k in stale} == {k.to_user_string() for k in affected}
    killed = instance.add_run(DagsterRun(job_name="film_assets", run_id=str(uuid.uuid4()),
                                         status=DagsterRunStatus.STARTED,
                                         tags={"dagster/partition": FILM, "animproc/process": f"{socket.gethostname()}:{_dead_pid()}:"}))
    rerun = cli("run", FILM).stdout
    assert f"materialising {', '.join(expected)} for film" in rerun, rerun
    assert rerun.count("materialising") == 1 and rerun.count(": up to date") == len(GATES)
    assert instance.get_run_by_id(killed.run_id).status == DagsterRunStatus.FAILURE
    for key, before in counts.items():
        assert _materialisations(instance, key) == before + (key in expected), key
    assert _mtimes(data, ["shots", "frames", "instances"]) == mtimes
    names = set(st.read_parquet(st.asset_dir(FILM, "characters") / "index.parquet")["character"])
    assert "ava" in names
    cli_run = instance.get_run_records(limit=1)[0].dagster_run
    assert cli_run.tags[REVIEW_TAG] == f"identities:{decision_version(renamed)}"

    sensor_context = build_sensor_context(instance=instance, resources={"storage": storage}, definitions=defs)
    after_cli = review_sensor(sensor_context)  # a restarted daemon: no cursor
    assert not after_cli.run_requests and not after_cli.asset_events

    renamed = _rename_first_character(st, "ava2")
    taken = review_sensor(build_sensor_context(instance=instance, cursor=after_cli.cursor,
                                               resources={"storage": storage}, definitions=defs))
    request = _one_identity_rerun(instance, taken, expected, renamed)
    sensor_run = instance.add_run(DagsterRun(job_name=request.job_name, run_id=str(uuid.uuid4()),
                                         status=DagsterRunStatus.STARTED,
                                         tags={**request.tags, "dagster/partition": FILM}))
    refused = cli("run", FILM, ok=False)
    assert refused.returncode == 1 and sensor_run.run_id in refused.stderr and "materialising" not in refused.stdout
    instance.report_run_canceled(sensor_run)  # it stood for the sensor's run: the same request runs here instead
    assert defs.resolve_job_def(request.job_name).execute_in_process(
        instance=instance, partition_key=FILM, asset_selection=request.asset_selection, tags=request.tags).success
    observed = _observations(instance, "identity_review")
    last = cli("run", FILM).stdout
    assert "materialising" not in last and _observations(instance, "identity_review") == observed
    for key, before in counts.items():
        assert _materialisations(instance, key) == before + 2 * (key in expected), key

    instance_review = AssetKey("instance_review")
    reviewed = load_review(st, FILM, "instances")
    first = sorted(reviewed.decisions)[0]
    reviewed.decisions[first]["keep"] = not reviewed.decisions[first]["keep"]
    changed = decision_version(save_review(st, reviewed, reviewed.version))
    assert set(out_of_date(instance, graph, FILM, {instance_review: changed})) == {
        k for k in _downstream(graph, instance_review) if graph.get(k).is_materializable}
    plan = gate_assets(instance, graph, job_keys(graph, GATES[0].job), FILM, GATES[0], changed)
    assert set(plan) == _downstream(graph, instance_review) & job_keys(graph, GATES[0].job)
    assert AssetKey("instances") not in plan and AssetKey("instances_filtered") in plan
