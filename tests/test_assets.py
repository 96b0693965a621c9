import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from dagster import Definitions, build_sensor_context, instance_for_test

from animproc.library import store_source
from animproc.storage import Storage
from animproc.video.evaluate import score_boundaries
from animproc_dagster.definitions import build_defs
from animproc_dagster.sensors import inbox_sensor
from assets.frame_checks import FRAME_CHECKS
from dagster_helpers import run_film
from resources.film_config import FilmConfigResource
from resources.shot_detector import ShotDetectorResource
from resources.storage import StorageResource

ROOT = Path(__file__).resolve().parents[1]


def _defs(root: Path, config_dir: Path) -> Definitions:
    return build_defs(StorageResource(root=str(root)), FilmConfigResource(config_dir=str(config_dir)),
                      ShotDetectorResource(backend="default"))


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.fixture
def instance():
    with instance_for_test() as inst:
        yield inst


def test_sample_film_materialises_every_asset_with_checks_and_metadata(tmp_path, instance, sample_film):
    """One film partition: source_video, shots, frames and frames_processed materialise, every check passes,
    and the metadata a person reads in the UI is there (counts, timings, previews, resolved config)."""
    path, truth = sample_film
    st = Storage(tmp_path / "data")
    store_source(st, "sample", path)
    result = run_film(_defs(tmp_path / "data", tmp_path / "configs"), instance, "sample")
    assert result.success
    checks = result.get_asset_check_evaluations()
    assert len(checks) == len(FRAME_CHECKS) and all(c.passed for c in checks)
    mats = {e.event_specific_data.materialization.asset_key.to_user_string(): e.event_specific_data.materialization.metadata
            for e in result.get_asset_materialization_events()}
    assert set(mats) == {"source_video", "shots", "frames", "frames_processed", "instances", "shot_structure", "motion",
                         "effects_catalog", "audio",
                         "vocals", "diarization", "voice_features"}
    assert mats["diarization"]["speakers"].value == len({s["speaker"] for s in truth["speech"]})
    assert mats["source_video"]["frame_count"].value == truth["frame_count"]
    assert mats["source_video"]["config"].value["instances"]["alpha_threshold"] == 0.15
    assert "generic 3D defaults" in mats["source_video"]["config_source"].value
    assert mats["shots"]["shots"].value == len(truth["shots"])
    assert mats["frames"]["contact_sheet"].value.startswith("![frames](data:image/jpeg;base64,")
    assert mats["shots"]["timeline"].value.startswith("![timeline](data:image/png;base64,")
    shots = st.read_parquet(st.asset_dir("sample", "shots") / "shots.parquet")
    reference = [(t["first"], t["last"]) for t in truth["transitions"] if t["boundary"] is not None]
    assert score_boundaries(reference, shots["start_frame"].tolist()[1:], tolerance=0).f1 == 1.0
    frames = st.read_parquet(st.asset_dir("sample", "frames") / "manifest.parquet")
    assert {"film", "frame_index", "time", "shot_id", "path", "width", "height"} <= set(frames.columns)
    assert all(st.resolve(p).exists() for p in frames["path"])
    processed = st.read_parquet(st.asset_dir("sample", "frames_processed") / "manifest.parquet")
    assert len(processed) == len(frames)
    assert processed["kept"].any() and processed.loc[~processed["kept"], "drop_reason"].notna().all()
    staging = tmp_path / "data" / "sample" / ".staging"
    assert not staging.exists() or not any(staging.iterdir())


def test_rematerialising_is_idempotent_and_leaves_no_stale_files(tmp_path, instance, sample_film):
    st = Storage(tmp_path / "data")
    store_source(st, "film", sample_film[0])
    defs = _defs(tmp_path / "data", tmp_path / "configs")
    assert run_film(defs, instance, "film").success
    first_tree = _tree(tmp_path / "data" / "film")
    first = st.read_parquet(st.asset_dir("film", "frames_processed") / "manifest.parquet")
    (tmp_path / "data" / "film" / "frames" / "images" / "stale.jpg").write_bytes(b"x")
    assert run_film(defs, instance, "film").success
    assert _tree(tmp_path / "data" / "film") == first_tree
    second = st.read_parquet(st.asset_dir("film", "frames_processed") / "manifest.parquet")
    pd.testing.assert_frame_equal(first, second)


def test_per_film_config_changes_outputs_and_bad_config_fails_clearly(tmp_path, instance, sample_film):
    st = Storage(tmp_path / "data")
    store_source(st, "film", sample_film[0])
    configs = tmp_path / "configs"
    configs.mkdir()
    (configs / "film.yaml").write_text("sampling: {mode: scene, frames_per_shot: 1}\n")
    defs = _defs(tmp_path / "data", configs)
    assert run_film(defs, instance, "film").success
    frames = st.read_parquet(st.asset_dir("film", "frames") / "manifest.parquet")
    assert frames.groupby("shot_id").size().max() == 1
    (configs / "film.yaml").write_text("sampling: {mode: sometimes}\n")
    result = run_film(defs, instance, "film", raise_on_error=False)
    assert not result.success
    failure = [e for e in result.all_events if e.is_step_failure][0]
    message = failure.event_specific_data.error.message
    assert "film.yaml" in message and "sampling.mode" in message


def test_unusable_media_fails_with_a_clear_message_and_writes_nothing(tmp_path, instance, bad_inputs):
    """Media that cannot be used (here a text file stored by hand) fails source_video, naming the file
    and the problem, and no output folder is created."""
    source = tmp_path / "data" / "broken" / "source"
    source.mkdir(parents=True)
    (source / "broken.mp4").write_bytes(bad_inputs["text"].read_bytes())
    result = run_film(_defs(tmp_path / "data", tmp_path / "configs"), instance, "broken", raise_on_error=False)
    assert not result.success
    message = [e for e in result.all_events if e.is_step_failure][0].event_specific_data.error.message
    assert "broken.mp4" in message and "not a readable media file" in message
    assert sorted(p.name for p in (tmp_path / "data" / "broken").iterdir()) == ["source"]


def test_inbox_sensor_registers_new_media_and_requests_runs(tmp_path, sample_film, bad_inputs):
    """A video dropped in the inbox becomes a film partition with a run request; a bad file is logged and
    skipped; the cursor stops the same file being registered twice."""
    inbox = tmp_path / "data" / "inbox"
    inbox.mkdir(parents=True)
    (inbox / "My Film.mp4").write_bytes(sample_film[0].read_bytes())
    (inbox / "broken.mp4").write_bytes(bad_inputs["text"].read_bytes())
    (inbox / "notes.txt").write_text("ignored")
    old = 1_000_000_000
    for p in inbox.iterdir():
        os.utime(p, (old, old))
    storage = StorageResource(root=str(tmp_path / "data"))
    with instance_for_test() as inst:
        result = inbox_sensor(build_sensor_context(instance=inst, resources={"storage": storage}))
        assert [r.partition_key for r in result.run_requests] == ["my-film"]
        assert result.dynamic_partitions_requests[0].partition_keys == ["my-film"]
        assert (tmp_path / "data" / "my-film" / "source" / "my-film.mp4").exists()
        assert not (tmp_path / "data" / "broken").exists()
        inst.add_dynamic_partitions("film", ["my-film"])
        again = inbox_sensor(build_sensor_context(instance=inst, cursor=result.cursor, resources={"storage": storage}))
        assert not again.run_requests


def test_inbox_sensor_waits_for_files_still_being_written(tmp_path, sample_film):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "fresh.mp4").write_bytes(sample_film[0].read_bytes())
    with instance_for_test() as inst:
        result = inbox_sensor(build_sensor_context(instance=inst, resources={"storage": StorageResource(root=str(tmp_path))}))
        assert not result.run_requests and json.loads(result.cursor) == {}


def test_definitions_validate():
    """`dagster definitions validate` accepts the code location."""
    env = {**os.environ, "DAGSTER_HOME": ""}
    env.pop("DAGSTER_HOME")
    proc = subprocess.run([sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
                          cwd=ROOT, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
