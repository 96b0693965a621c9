"""Shot structure: scale from faces, scenes from colour, pacing, and the asset on the sample film."""
import json

import numpy as np
import pandas as pd
from dagster import AssetKey, instance_for_test

from animproc.config import TemporalConfig
from animproc.library import store_source
from animproc.storage import Storage
from animproc.temporal.structure import group_scenes, narrative_graph, pacing, shot_scale
from dagster_helpers import run_film


def test_scale_follows_the_largest_face_and_no_face_is_no_subject():
    """The median face height / picture height falls in the configured bands (defaults: the conventional
    framings of a figure about 8 heads tall); no face at all is no_subject."""
    c = TemporalConfig()
    assert shot_scale([], c)[0] == "no_subject"
    assert shot_scale([0.9, 0.85, 0.95], c)[0] == "extreme_close_up"
    assert shot_scale([0.65], c)[0] == "close_up"
    assert shot_scale([0.45], c)[0] == "close_up"
    assert shot_scale([0.3], c)[0] == "medium_close_up"
    assert shot_scale([0.12, 0.1], c)[0] == "medium_long"
    assert shot_scale([0.05], c)[0] == "long"
    assert shot_scale([0.01], c)[0] == "extreme_long"
    label, confidence, evidence = shot_scale([0.2, 0.2, 0.2], c)
    assert label == "medium" and 0 < confidence < shot_scale([0.2] * 10, c)[1] <= 1 and evidence["frames_with_face"] == 3
    assert shot_scale([0.2], TemporalConfig(medium=0.25, medium_close_up=0.3))[0] == "medium_long"


def test_face_ratios_per_shot_from_a_faces_table_leave_dissolves_out():
    """The faces asset's boxes give each shot the tallest face per frame over the picture height; frames inside
    a dissolve are left out (the next shot's faces show through there); a film without faces gives none."""
    from animproc.temporal.structure import face_ratios

    faces = pd.DataFrame({"frame_index": [5, 5, 9, 30, 31], "shot_id": [0, 0, 0, 1, 1],
                          "y0": [0.0, 10, 0, 0, 0], "y1": [90.0, 100, 36, 36, 72]})
    assert face_ratios(faces, 360.0, [(28, 30)]) == {0: [0.25, 0.1], 1: [0.2]}
    assert face_ratios(faces, 360.0)[1] == [0.1, 0.2]
    assert face_ratios(faces.iloc[:0], 360.0) == {}


def test_scenes_break_where_the_colours_change():
    red, blue = np.zeros(128), np.zeros(128)
    red[3], blue[90] = 1.0, 1.0
    mixed = 0.8 * red + 0.2 * blue
    assert group_scenes([red, mixed, None, blue, blue, red], 0.55) == [0, 0, 0, 1, 1, 2]


def test_scenes_break_after_a_fade_and_follow_the_characters_present():
    """A fade in from black starts a new scene even in the same colours; a borderline colour change stays in
    the scene when a character carries over and breaks when the cast is new."""
    red, blue = np.zeros(128), np.zeros(128)
    red[3], blue[90] = 1.0, 1.0
    assert group_scenes([red, red, red], 0.55, fades={2}) == [0, 0, 1]
    near = 0.5 * red + 0.5 * blue  # similarity 0.5 with the red scene: just under the threshold
    assert group_scenes([red, near], 0.55) == [0, 1]
    assert group_scenes([red, near], 0.55, [{"ava"}, {"ava", "bo"}]) == [0, 0]
    assert group_scenes([red, near], 0.55, [{"ava"}, {"cy"}]) == [0, 1]
    assert group_scenes([red, 0.8 * red + 0.2 * blue], 0.55, [{"ava"}, {"cy"}]) == [0, 0]  # colours still decide


def test_pacing_and_scene_graph():
    table = pd.DataFrame({"shot_id": [0, 1, 2], "start_time": [0.0, 30.0, 70.0], "end_time": [30.0, 70.0, 90.0],
                          "scale": ["close_up", "close_up", "long"], "camera": ["static", "pan_left", "static"],
                          "scene_id": [0, 0, 1]})
    stats = pacing(table, 90.0)
    assert stats["average_shot_length_s"] == 30.0 and stats["cuts_per_minute_over_time"] == [1, 1]
    graph = narrative_graph(table, {0: {"ava"}, 1: {"bo", "ava"}})
    assert [n["shots"] for n in graph["nodes"]] == [[0, 1], [2]] and graph["edges"] == [{"from": 0, "to": 1}]
    assert [n["characters"] for n in graph["nodes"]] == [["ava", "bo"], []]
    assert graph["nodes"][0]["dominant_scale"] == "close_up" and graph["nodes"][0]["duration_s"] == 70.0


def test_shot_structure_on_the_sample_film_names_every_camera_movement_and_scale(tmp_path, sample_film):
    """The asset, one reduced decode pass: the sample film's six shots get its rendered camera movements
    (static, static, pan right, zoom in, static, static) and scales (medium, close-up, long, medium close-up,
    medium, medium long), with evidence; scenes and pacing are written."""
    from animproc_dagster.definitions import build_defs
    from resources.film_config import FilmConfigResource
    from resources.shot_detector import ShotDetectorResource
    from resources.storage import StorageResource

    path, truth = sample_film
    st = Storage(tmp_path / "data")
    store_source(st, "sample", path)
    defs = build_defs(StorageResource(root=str(tmp_path / "data")), FilmConfigResource(config_dir=str(tmp_path)),
                      ShotDetectorResource(backend="default"))
    with instance_for_test() as inst:
        keys = [AssetKey(k) for k in ("source_video", "shots", "frames", "shot_structure")]
        result = run_film(defs, inst, "sample", asset_selection=keys)
        assert result.success
    table = st.read_parquet(st.asset_dir("sample", "shot_structure") / "shot_structure.parquet")
    assert list(table["camera"]) == [s["camera"] for s in truth["shots"]]
    assert list(table["scale"]) == [s["scale"] for s in truth["shots"]]
    for row, shot in zip(table.itertuples(), truth["shots"]):  # measured within 20 % of the rendered faces
        assert abs(json.loads(row.scale_evidence)["face_height_ratio"] / shot["face_height_ratio"] - 1) < 0.2
    assert all(json.loads(e)["pairs"] >= 2 for e in table["camera_evidence"])
    scenes = json.loads((tmp_path / "data" / "sample" / "shot_structure" / "scenes.json").read_text())
    assert scenes["pacing"]["shots"] == len(truth["shots"])
    assert sorted(s for n in scenes["nodes"] for s in n["shots"]) == list(range(len(truth["shots"])))


def test_foreground_mask_leaves_characters_out_unless_they_fill_the_picture():
    """Character boxes (fractions) become zeros in the corner mask; when they cover more than 60 % of the
    picture the camera is measured on everything (no mask)."""
    from animproc.temporal.structure import foreground_mask

    mask = foreground_mask([np.array([0.25, 0.5, 0.5, 1.0])], 320, 180)
    assert mask[150, 100] == 0 and mask[20, 20] == 255 and mask[150, 200] == 255
    assert foreground_mask([np.array([0.0, 0.0, 0.9, 0.9])], 320, 180) is None
    assert foreground_mask(None, 320, 180) is None
