"""Hands in faceless shots: the palm detector's decoding and letterbox, the hand crop, and the rule that a hand
seen on most faceless looks and as long as a close framing's face is tall makes the shot a close one."""
import json

import numpy as np
import pytest

import animproc.temporal.pose as pose
from animproc.config import FilmConfig, TemporalConfig
from animproc.errors import ModelError
from animproc.temporal.hands import PALM_SIZE, Hand, HandFinder, hand_crop, hand_length
from animproc.temporal.stages import structure_rows
from animproc.temporal.structure import hand_scale
from animproc.temporal.subject_mask import FacelessSubjects, SubjectExtent, SubjectLook
from test_structure_fallbacks import _Reviewed as _NothingReviewed
from test_structure_fallbacks import _shots
from test_structure_person import _found

T = TemporalConfig()


def _hand(length: float, presence: float = 0.95) -> Hand:
    return Hand(0.8, (0.3, 0.2, 0.7, 0.9), presence, length)


def _look(*hands: Hand, area: float = 0.0) -> SubjectLook:
    return SubjectLook(SubjectExtent(area, 1.0, 0.0), None, tuple(hands))


def test_a_hand_filling_most_faceless_looks_is_a_close_subject_and_one_look_or_a_small_hand_is_not():
    scale, confidence, evidence = hand_scale([_look(_hand(1.0)), _look(_hand(0.3), _hand(0.9)), _look()], T)
    assert scale == "extreme_close_up" and evidence["hand_looks"] == 2 and evidence["hand_length_ratio"] == 0.95
    assert confidence < 0.8
    assert hand_scale([_look(_hand(1.0)), _look(), _look()], T) is None  # one look of three
    assert hand_scale([_look(_hand(1.0))], T) is None  # one look is never enough
    assert hand_scale([_look(_hand(0.14))] * 5, T) is None  # a creature's head reads as a small hand
    assert hand_scale([_look(_hand(1.0, presence=0.2))] * 3, T) is None  # the landmark model sees no hand
    assert hand_scale([_look(_hand(0.3))] * 3, T)[0] == "medium_close_up"
    assert hand_scale([], T) is None
    assert hand_scale([SubjectLook(SubjectExtent(0.5, 0.1, 1.0), None)] * 3, T) is None  # looks without hands


def test_a_faceless_shot_showing_a_hand_is_close_unless_faceless_hands_is_off():
    shots = _shots(2)
    found = {0: _found([_look(_hand(1.0), area=0.5), _look(_hand(0.8)), _look(_hand(1.1))]),
             1: _found([_look(area=0.6)] * 3)}
    table = structure_rows("f", shots, found, _NothingReviewed(), 360.0, [], FilmConfig(), {})
    assert list(table["scale"]) == ["extreme_close_up", "extreme_long"]
    assert json.loads(table["scale_evidence"][0])["from"] == "hands"
    off = FilmConfig(temporal=TemporalConfig(faceless_hands=False))
    assert list(structure_rows("f", shots, found, _NothingReviewed(), 360.0, [], off, {})["scale"]) == [
        "extreme_long", "extreme_long"]


class _EmptyMask:
    status = "mask"

    def __call__(self, bgr):
        return np.zeros((144, 256), np.float32)


def test_hands_are_looked_for_on_every_faceless_look_even_where_the_person_mask_is_empty():
    asked = []
    finder = type("H", (), {"status": "hands", "__call__": lambda self, bgr: asked.append(bgr) or [_hand(0.9)]})()
    look = FacelessSubjects(_EmptyMask(), pose=None, hands=finder)(np.zeros((180, 320, 3), np.uint8))
    assert look.pose is None and look.hands == (_hand(0.9),) and len(asked) == 1
    assert FacelessSubjects(_EmptyMask())(np.zeros((180, 320, 3), np.uint8)).hands == ()


def test_the_palm_detection_is_decoded_with_seven_keypoints_and_mapped_out_of_the_letterbox(monkeypatch):
    finder = HandFinder(landmarks=False)
    k = 300
    centre = finder.anchors[k]
    boxes = np.zeros((1, len(finder.anchors), 18), np.float32)
    boxes[0, k, 2:4] = 0.1 * PALM_SIZE  # a palm a tenth of the square wide and tall
    boxes[0, k, 4:18] = np.tile([0.0, 0.02 * PALM_SIZE], 7)  # keypoints a little below the centre
    boxes[0, k, 4 + 2 * 2 + 1] = -0.04 * PALM_SIZE  # the middle finger's base above the wrist: fingers up
    scores = np.full((1, len(finder.anchors), 1), -10, np.float32)
    scores[0, k] = 5.0
    monkeypatch.setattr(pose, "run_tflite", lambda interpreter, x: [boxes, scores])
    picture = np.zeros((180, 320, 3), np.uint8)  # letterboxed: 70 rows of border above it in the 320 square
    (score, box, points), = finder.palms(picture[..., ::-1])
    cx, cy = centre[0] * 320, centre[1] * 320 - 70
    assert score == pytest.approx(1 / (1 + np.exp(-5)))
    assert np.allclose(box, [cx - 16, cy - 16, cx + 16, cy + 16], atol=1e-3)
    assert points.shape == (7, 2) and points[0, 1] == pytest.approx(cy + 6.4, abs=1e-3)
    (hand,) = finder(picture)
    assert hand.length == pytest.approx(2.6 * 32 / 180, abs=1e-3)
    assert hand.box[1] == pytest.approx((cy - 16) / 180, abs=1e-5)


def test_the_hand_crop_points_the_fingers_up_and_reaches_past_the_palm():
    box = np.array([100.0, 100.0, 140.0, 140.0])
    up = np.array([[120.0, 140.0], [0, 0], [120.0, 110.0], [0, 0], [0, 0], [0, 0], [0, 0]])
    centre, side, rotation = hand_crop(box, up)
    assert rotation == pytest.approx(0.0) and side == pytest.approx(104.0) and np.allclose(centre, [120, 100])
    right = np.array([[100.0, 120.0], [0, 0], [130.0, 120.0], [0, 0], [0, 0], [0, 0], [0, 0]])
    centre, _, rotation = hand_crop(box, right)  # fingers to the right: the crop turned a quarter, moved right
    assert rotation == pytest.approx(np.pi / 2) and np.allclose(centre, [140, 120])
    points = np.zeros((21, 2))
    points[12] = [0, 50]
    points[4] = [30, 0]
    assert hand_length(points) == 50.0


def test_the_embedded_hand_finder_sees_no_hand_in_a_flat_picture_and_names_a_missing_model(tmp_path):
    assert HandFinder()(np.full((270, 480, 3), 128, np.uint8)) == []
    with pytest.raises(ModelError, match="missing.tflite"):
        HandFinder(tmp_path / "missing.tflite", tmp_path / "missing_too.tflite")


def test_without_the_hand_model_files_the_person_finder_runs_without_hands(monkeypatch, tmp_path):
    import animproc.temporal.hands as hands
    import animproc.temporal.subject_mask as subject_mask

    assert subject_mask.faceless_subjects().hands is not None
    assert subject_mask.faceless_subjects(hands=False).hands is None
    monkeypatch.setattr(hands, "hand_model_paths", lambda: (tmp_path / "palm.tflite", tmp_path / "hand.tflite"))
    finder = subject_mask.faceless_subjects()
    assert finder is not None and finder.hands is None
