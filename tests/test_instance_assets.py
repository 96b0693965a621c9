"""The instance assets and the review gate in Dagster: gating, auto mode, and the review sensor's robustness."""
import pytest
from dagster import AssetKey, build_sensor_context, instance_for_test

from animproc.review.labels import Review, review_path, save_review
from animproc_dagster.definitions import build_defs
from animproc_dagster.sensors import review_sensor
from partitions import add_film
from resources.film_config import FilmConfigResource
from resources.storage import StorageResource
from review_helpers import fake_instances


@pytest.fixture
def setup(tmp_path):
    st, table = fake_instances(tmp_path / "data", "demo")
    configs = tmp_path / "configs"
    configs.mkdir()
    storage = StorageResource(root=str(tmp_path / "data"))
    defs = build_defs(storage, FilmConfigResource(config_dir=str(configs)))
    with instance_for_test() as inst:
        add_film(inst, "demo")
        yield st, table, configs, storage, defs, inst


def _filter(defs, inst):
    return defs.resolve_job_def("instances_reviewed").execute_in_process(
        instance=inst, partition_key="demo", asset_selection=[AssetKey("instances_filtered")], raise_on_error=False)


def test_jobs_stop_at_the_review_gate():
    """The film job never runs what a review gates; the gate's job runs exactly that, and the last gate's
    job refreshes the temporal assets, which read the reviewed instances and names."""
    defs = build_defs()
    film = {k.to_user_string() for k in defs.resolve_job_def("film_assets").asset_layer.executable_asset_keys}
    gated = {k.to_user_string() for k in defs.resolve_job_def("instances_reviewed").asset_layer.executable_asset_keys}
    assert "instances" in film and not film & {"instances_filtered", "instances_inpainted", "instance_review"}
    assert gated == {"instances_filtered", "instances_inpainted", "faces", "identity_clusters"}
    last = {k.to_user_string() for k in defs.resolve_job_def("identities_reviewed").asset_layer.executable_asset_keys}
    assert last == {"characters", "pose_subclusters", "shot_structure", "motion", "effects_catalog",
                    "character_instances", "active_speakers", "character_voices", "av_sync", "film_timeline",
                    "dataset_character_multimodal", "dataset_scene_understanding", "dataset_action_recognition",
                    "dataset_emotion_analysis", "datasets_all_films", "captions", "lora_dataset", "lora_evaluation"}
    assert {"shot_structure", "motion", "effects_catalog"} <= film  # they also run before the reviews


def test_unreviewed_film_fails_with_the_command_to_review(setup):
    st, table, configs, storage, defs, inst = setup
    result = _filter(defs, inst)
    assert not result.success
    failure = result.get_step_failure_events()[0].event_specific_data.error.message
    assert "not reviewed yet" in failure and "animproc review instances demo" in failure
    assert not st.asset_dir("demo", "instances_filtered").exists()


def test_auto_review_keeps_predicted_characters(setup):
    st, table, configs, storage, defs, inst = setup
    (configs / "demo.yaml").write_text("review: auto\n")
    assert _filter(defs, inst).success
    kept = st.read_parquet(st.asset_dir("demo", "instances_filtered") / "instances.parquet")
    assert set(kept["instance_id"]) == set(table.loc[table["category"] == "character", "instance_id"])
    assert set(kept["decided_by"]) == {"auto"}
    assert all(st.resolve(p).exists() for p in kept["cutout_path"])


def test_review_sensor_skips_malformed_and_unfinished_files_without_crashing(setup):
    """A half-written or invalid file and an unfinished review start nothing; the finished one does, once."""
    st, table, configs, storage, defs, inst = setup
    path = review_path(st, "demo", "instances")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"format": "animproc-review/1", "film": "demo", "kind": "instan')
    cursor = None
    for _ in range(2):
        result = review_sensor(build_sensor_context(instance=inst, cursor=cursor, resources={"storage": storage}))
        assert not result.run_requests and not result.asset_events
        cursor = result.cursor
    path.unlink()
    save_review(st, Review("demo", "instances", decisions={table["instance_id"][0]: {"keep": True}}), 0)
    result = review_sensor(build_sensor_context(instance=inst, cursor=cursor, resources={"storage": storage}))
    assert not result.run_requests
    save_review(st, Review("demo", "instances", submitted=True, decisions={table["instance_id"][0]: {"keep": True}}), 1)
    result = review_sensor(build_sensor_context(instance=inst, cursor=result.cursor, resources={"storage": storage}))
    assert [r.run_key for r in result.run_requests][0].startswith("review:demo:instances:")
    event = result.asset_events[0]
    assert event.partition == "demo" and event.metadata["version"].value == 2
    assert not review_sensor(build_sensor_context(instance=inst, cursor=result.cursor,
                                                  resources={"storage": storage})).run_requests
