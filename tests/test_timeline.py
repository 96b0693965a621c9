"""film_timeline: one row per shot and per 0.1 s slice, joined from the separate products."""
import json

import numpy as np
import pandas as pd
import pytest

from animproc.catalogue import FilmProducts
from animproc.timeline import build_timeline, context_line, slice_power, timeline_inputs
from multimodal_helpers import fake_film


def _timeline(tmp_path, **parts):
    products = fake_film(tmp_path / "data", **parts)
    inputs = timeline_inputs(FilmProducts(products.storage, "demo"), 0.1)
    return (*build_timeline(inputs, 0.1), inputs)


def test_shot_rows_name_who_is_on_screen_who_speaks_and_what_happens(tmp_path):
    shots, _, _ = _timeline(tmp_path)
    first, second, third = (shots.iloc[k] for k in range(3))
    assert json.loads(first["on_screen"]) == ["ava"] and json.loads(first["speakers"]) == ["ava"]
    assert json.loads(second["speakers"]) == ["bo"] and json.loads(second["effects"]) == ["glow"]
    assert json.loads(second["actions"]) == ["bo: jumping"]
    assert json.loads(third["speakers"]) == [] and json.loads(third["voices"]) == ["S2"]  # an unmapped voice
    assert "cluster_5" not in third["on_screen"]  # a track label that is no character's name
    assert json.loads(first["face_boxes"])["ava"][0] == pytest.approx((40 + 1) / 160, abs=0.01)
    assert list(shots["beats"]) == [2, 2, 2] and bool(first["cut_on_beat"])
    assert first["speech_seconds"] == pytest.approx(1.6)


def test_slices_follow_speech_and_loudness_at_a_tenth_of_a_second(tmp_path):
    _, slices, _ = _timeline(tmp_path)
    assert len(slices) == 60 and slices["end"].iloc[-1] == pytest.approx(6.0)
    speaking = slices.set_index("slice")["speaker"]
    assert pd.isna(speaking[1]) and speaking[2] == "ava" and speaking[17] == "ava" and pd.isna(speaking[18])
    assert slices.loc[slices["start"] >= 5.0, "loudness_db"].max() <= -100  # the silent last second
    assert slices.loc[5, "loudness_db"] > slices.loc[40, "loudness_db"] + 20  # speech vs hum
    assert slices["beat"].sum() == 6


def test_slice_power_reads_in_blocks_and_matches_the_whole_signal(tmp_path):
    import soundfile as sf

    rng = np.random.default_rng(0)
    wav = rng.normal(0, 0.1, 16000 * 3).astype(np.float32)
    sf.write(tmp_path / "x.wav", wav, 16000, subtype="FLOAT")
    power = slice_power(tmp_path / "x.wav", 0.1, 3.0, block_seconds=0.37)
    assert np.allclose(power, (wav.astype(np.float64) ** 2).reshape(30, -1).mean(axis=1))


def test_a_film_without_audio_or_reviews_gets_an_empty_but_valid_timeline_that_says_why(tmp_path):
    shots, slices, inputs = _timeline(tmp_path, audio=False, reviewed=False)
    assert len(shots) == 3 and shots["loudness_db"].isna().all() and slices["speaker"].isna().all()
    assert all(json.loads(x) == [] for x in shots["on_screen"])
    assert set(inputs.why) == {"audio", "characters", "beats", "speakers"}


def test_without_character_voices_the_timeline_has_no_speech_and_says_why(tmp_path):
    shots, _, inputs = _timeline(tmp_path, voices=False)
    assert json.loads(shots.iloc[0]["voices"]) == [] and json.loads(shots.iloc[0]["speakers"]) == []
    assert "character_voices" in inputs.why["speakers"]


def test_context_line_reads_a_shot_as_one_sentence(tmp_path):
    shots, _, _ = _timeline(tmp_path)
    line = context_line(shots.iloc[1])
    assert line == "shot 1, scene 0; medium, camera pan; on screen: bo; speaking: bo; actions: bo: jumping; effects: glow"


def test_film_timeline_asset_publishes_tables_image_and_reads_only_declared_inputs(tmp_path):
    from dagster import instance_for_test, materialize

    from assets.datasets import film_timeline
    from partitions import add_film
    from resources.film_config import FilmConfigResource
    from resources.storage import StorageResource

    fake_film(tmp_path / "data")
    resources = {"storage": StorageResource(root=str(tmp_path / "data")),
                 "film_config": FilmConfigResource(config_dir=str(tmp_path / "configs"))}
    with instance_for_test() as instance:
        add_film(instance, "demo")
        result = materialize([film_timeline], partition_key="demo", instance=instance, resources=resources)
        meta = result.asset_materializations_for_node("film_timeline")[0].metadata
    assert meta["shots"].value == 3 and meta["slices"].value == 60
    assert set(meta["inputs_read"].value) >= {"shot_structure", "characters", "character_voices", "av_sync", "audio"}
    assert meta["empty_parts"].value == {}
    folder = tmp_path / "data" / "demo" / "film_timeline"
    assert (folder / "timeline.png").read_bytes()[:4] == b"\x89PNG"
    assert {p.name for p in folder.iterdir()} == {"shots.parquet", "slices.parquet", "summary.json", "timeline.png"}


def test_a_reviewed_film_without_faces_says_it_has_no_named_faces(tmp_path):
    shots, _, inputs = _timeline(tmp_path, faces=False)
    assert inputs.why["characters"] == "the film has no faces of named characters"
    assert all(json.loads(x) == {} for x in shots["face_boxes"])


def test_the_slices_span_the_probed_duration_of_the_source_video(tmp_path):
    products = fake_film(tmp_path / "data")
    with products.publish("source_video") as out:  # the probe as the source_video asset writes it
        out.json("probe", {"duration_s": 8.0, "fps": 24.0, "width": 160, "height": 90, "frame_count": 192})
    shots, slices = build_timeline(timeline_inputs(FilmProducts(products.storage, "demo"), 0.1), 0.1)
    assert len(slices) == 80 and slices["end"].iloc[-1] == 8.0 and len(shots) == 3
