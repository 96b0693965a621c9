"""A shot with no face, track or pose of its own: the person mask of its faceless looks (and a pose confirmed on
the mask's box) gives it a scale before it is called a view."""
import json

import numpy as np
import pandas as pd
import pytest

from animproc.config import FilmConfig, TemporalConfig
from animproc.errors import ModelError
from animproc.temporal.camera import CameraMovement
from animproc.temporal.stages import structure_rows
from animproc.temporal.structure import person_scale
from animproc.temporal.subject_mask import (MASK_HEIGHT, MASK_WIDTH, FacelessSubjects, PersonSegmenter,
                                            SubjectExtent, SubjectLook, mask_extent)
from test_structure_fallbacks import _figure, _shots
from test_structure_fallbacks import _Reviewed as _NothingReviewed

T = TemporalConfig()


def _look(area: float, pose: np.ndarray | None = None) -> SubjectLook:
    return SubjectLook(SubjectExtent(area, 0.1, 1.0), pose)


def test_mask_extent_measures_the_person_rows_and_ignores_stray_pixels():
    mask = np.zeros((100, 200), np.float32)
    mask[30:100, 50:150] = 0.9  # a figure cut by the bottom edge
    mask[5, 10] = 1.0  # one stray pixel above it
    extent = mask_extent(mask)
    assert extent.top == pytest.approx(0.3) and extent.bottom == 1.0 and extent.area == pytest.approx(0.35005)
    assert mask_extent(np.zeros((100, 200))).height == 0.0


def test_a_pose_confirmed_on_most_faceless_looks_scales_the_shot_and_on_one_look_does_not():
    hips = _figure(0.05, 1.8)  # cut at the hips
    scale, confidence, evidence = person_scale([_look(0.2, hips), _look(0.05, hips), _look(0.0)], T)
    assert scale == "medium" and evidence["posed_looks"] == 2 and confidence < 0.7
    assert person_scale([_look(0.2, hips), _look(0.2), _look(0.2)], T) is None
    assert person_scale([_look(0.2, hips)], T) is None  # one look is never enough
    assert person_scale([], T) is None
    assert person_scale([_look(0.63)] * 3, T) is None  # a mask alone, however large, is no person


def _found(looks: list[SubjectLook]) -> dict:
    return {"camera": CameraMovement("static", 0.9, {}), "hist": None, "face_ratios": [], "detail": 0.6,
            "subject_looks": looks}


def test_a_faceless_shot_with_a_person_mask_is_not_a_view_unless_person_mask_is_off():
    shots = _shots(2)
    hips = _figure(0.05, 1.8)
    found = {0: _found([_look(0.3, hips), _look(0.2, hips), _look(0.0)]), 1: _found([_look(0.6)] * 3)}
    table = structure_rows("f", shots, found, _NothingReviewed(), 360.0, [], FilmConfig(), {})
    assert list(table["scale"]) == ["medium", "extreme_long"]
    assert json.loads(table["scale_evidence"][0])["from"] == "person_mask"
    off = FilmConfig(temporal=TemporalConfig(person_mask=False))
    assert list(structure_rows("f", shots, found, _NothingReviewed(), 360.0, [], off, {})["scale"]) == [
        "extreme_long", "extreme_long"]


class _Mask:
    status = "mask"

    def __init__(self, mask):
        self.mask = mask

    def __call__(self, bgr):
        return self.mask


class _Pose:
    status = "pose"

    def __init__(self, found: bool):
        self.found, self.boxes = found, []

    def __call__(self, bgr, boxes):
        self.boxes += boxes
        return [np.tile([bgr.shape[1] / 2, bgr.shape[0] / 2, 0.9], (33, 1))] if self.found else [np.zeros((0, 3))]


def test_the_pose_is_asked_on_the_mask_box_in_picture_pixels_and_only_for_a_mask_of_some_size():
    mask = np.zeros((MASK_HEIGHT, MASK_WIDTH), np.float32)
    mask[72:, 64:192] = 1.0  # the lower half, middle half of the width
    picture = np.zeros((360, 640, 3), np.uint8)
    pose = _Pose(True)
    look = FacelessSubjects(_Mask(mask), pose)(picture)
    assert np.allclose(pose.boxes[0], [160, 180, 480, 360])
    assert look.pose.shape == (17, 3) and np.allclose(look.pose[:, :2], 0.5)
    assert FacelessSubjects(_Mask(mask), _Pose(False))(picture).pose is None
    tiny, pose = np.zeros_like(mask), _Pose(True)
    tiny[:5, :5] = 1.0
    assert FacelessSubjects(_Mask(tiny), pose)(picture).pose is None and not pose.boxes


def test_the_structure_scan_asks_for_a_person_only_on_the_looks_that_find_no_face(tmp_path):
    from animproc.temporal.structure import scan_structure
    from media_helpers import write_video

    frames = [np.full((180, 320, 3), 40, np.uint8)] * 24 + [np.full((180, 320, 3), 240, np.uint8)] * 24
    path = write_video(tmp_path / "two.mp4", frames)
    shots = pd.DataFrame({"shot_id": [0, 1], "start_frame": [0, 24], "end_frame": [23, 47]})

    def detect(bgr):
        return [type("F", (), {"height": 0.25 * bgr.shape[0]})()] if bgr.mean() > 200 else []

    asked = []
    found = scan_structure(path, shots, 24.0, T, detect, find_subjects=lambda bgr: asked.append(bgr) or _look(0.3))
    assert len(found[0]["subject_looks"]) == 3 and found[1]["subject_looks"] == []
    assert all(b.mean() < 100 for b in asked)


def test_the_embedded_person_segmenter_finds_nobody_in_a_flat_picture_and_names_a_missing_model(tmp_path):
    segmenter = PersonSegmenter()
    mask = segmenter(np.full((360, 640, 3), 128, np.uint8))
    assert mask.shape == (MASK_HEIGHT, MASK_WIDTH) and mask_extent(mask).area < 0.05
    with pytest.raises(ModelError, match="missing.tflite"):
        PersonSegmenter(tmp_path / "missing.tflite")


def test_without_the_wheels_model_files_the_person_cue_falls_back_to_none(monkeypatch, tmp_path):
    import animproc.temporal.subject_mask as subject_mask

    assert subject_mask.faceless_subjects() is not None
    monkeypatch.setattr(subject_mask, "selfie_model_path", lambda: tmp_path / "gone.tflite")
    assert subject_mask.faceless_subjects() is None
