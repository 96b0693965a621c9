"""Shot structure without faces or corners: a faceless shot's scale from its tracked figures' poses and boxes,
else card or view; the camera of a dark, hazy or flat shot from phase correlation where corners fail."""
import copy
import json

import cv2
import numpy as np
import pandas as pd
import pytest

from animproc.config import FilmConfig, TemporalConfig
from animproc.temporal.camera import CameraMovement, classify_movement, pair_motion, phase_motion
from animproc.temporal.pose import COCO_KEYPOINTS
from animproc.temporal.stages import motion_figures, structure_rows
from animproc.temporal.structure import picture_detail, pose_frame_scale, pose_scale

T = TemporalConfig()


def _figure(top: float, bottom: float, cut_at: float = 1.0, x: float = 0.5) -> np.ndarray:
    """COCO-17 keypoints of a standing figure from its eyes (`top`) to its ankles (`bottom`), as shares of
    the picture; parts below `cut_at` are outside the picture (BlazePose still guesses them, visibly)."""
    share = {"nose": 0.02, "left_eye": 0.0, "right_eye": 0.0, "left_ear": 0.01, "right_ear": 0.01,
             "left_shoulder": 0.15, "right_shoulder": 0.15, "left_elbow": 0.3, "right_elbow": 0.3,
             "left_wrist": 0.43, "right_wrist": 0.43, "left_hip": 0.5, "right_hip": 0.5, "left_knee": 0.75,
             "right_knee": 0.75, "left_ankle": 1.0, "right_ankle": 1.0}
    points = []
    for name in COCO_KEYPOINTS:
        y = top + share[name] * (bottom - top)
        points.append([x, y, 0.9 if y <= cut_at else 0.2])
    return np.array(points)


def test_a_pose_is_scaled_by_where_the_frame_cuts_the_body():
    assert pose_frame_scale(_figure(0.1, 0.9), T)[0] == "medium_long"  # whole, filling the height
    assert pose_frame_scale(_figure(0.4, 0.7), T)[0] == "long"
    assert pose_frame_scale(_figure(0.45, 0.55), T)[0] == "extreme_long"
    assert pose_frame_scale(_figure(0.05, 1.2), T)[0] == "medium_long"  # ankles out of the picture, knees in
    assert pose_frame_scale(_figure(0.05, 1.8), T)[0] == "medium"  # hips lowest in view
    assert pose_frame_scale(_figure(0.05, 4.0), T)[0] == "medium_close_up"
    assert pose_frame_scale(_figure(0.3, 12.0), T)[0] == "close_up"
    hidden = _figure(0.1, 0.9)
    hidden[:, 2] = 0.1
    assert pose_frame_scale(hidden, T) is None


def test_a_shot_takes_the_median_of_its_frames_closest_figures():
    poses = [(0, _figure(0.05, 1.8)), (0, _figure(0.4, 0.7)), (4, _figure(0.05, 1.8)), (8, _figure(0.4, 0.7))]
    scale, confidence, evidence = pose_scale(poses, T)
    assert scale == "medium" and evidence["frames_with_pose"] == 3 and 0.4 < confidence <= 0.7


def test_a_title_card_is_flat_and_a_hazy_view_is_not():
    card = np.full((180, 320), 12, np.uint8)
    cv2.putText(card, "THE FILM", (60, 100), cv2.FONT_HERSHEY_SIMPLEX, 1.2, 230, 2)
    rng = np.random.default_rng(0)
    haze = cv2.GaussianBlur(rng.integers(0, 255, (180, 320)).astype(np.uint8), (0, 0), 12)
    haze = cv2.normalize(haze, None, 70, 170, cv2.NORM_MINMAX)  # no sharp detail
    assert picture_detail(card) < T.card_detail < picture_detail(haze)


class _Reviewed:
    def __init__(self):
        self.faces = None

    def largest_figures(self, frame_height):
        return {}

    def unconfirmed(self) -> set:
        return set()


def _found(detail: float) -> dict:
    return {"camera": CameraMovement("static", 0.9, {}), "hist": None, "face_ratios": [], "detail": detail}


def _shots(n: int) -> pd.DataFrame:
    return pd.DataFrame({"shot_id": range(n), "start_frame": [24 * k for k in range(n)],
                         "end_frame": [24 * k + 23 for k in range(n)], "start_time": [float(k) for k in range(n)],
                         "end_time": [k + 0.99 for k in range(n)]})


def _motion() -> dict[str, pd.DataFrame]:
    """Shot 0: a posed figure cut at the hips; shot 1: a face track whose figure is small and whole; shot 3: a
    moving region only (not a figure)."""
    poses = pd.DataFrame({"shot_id": [0, 0], "frame_index": [4, 8], "layout": "blazepose33", "keypoints": "[]",
                          "coco17": [json.dumps(_figure(0.05, 1.8).tolist())] * 2})
    path = json.dumps([[f, 0.4, 0.5, 0.2, 0.4] for f in (24, 28, 32)])
    region = json.dumps([[f, 0.1, 0.5, 0.9, 1.0] for f in (72, 76, 80)])
    tracks = pd.DataFrame({"shot_id": [1, 3], "track_id": ["1-0", "3-0"], "source": ["face", "motion"],
                           "path": [path, region]})
    return {"poses": poses, "tracks": tracks}


def test_faceless_shots_take_their_scale_from_poses_then_track_boxes_then_card_or_view():
    """Without faces or reviewed instances (only shot_structure and motion materialised)."""
    found = {0: _found(0.6), 1: _found(0.6), 2: _found(0.05), 3: _found(0.6)}
    table = structure_rows("f", _shots(4), found, _Reviewed(), 360.0, [], FilmConfig(), _motion())
    assert list(table["scale"]) == ["medium", "long", "no_subject", "extreme_long"]
    evidence = [json.loads(e) for e in table["scale_evidence"]]
    assert evidence[0]["from"] == "pose" and evidence[1]["from"] == "tracks" and evidence[2]["picture_detail"] == 0.05


def _instances_known(decided_by: str):
    """The reviewed products of a film whose one faceless instance (shot 0, cut by the frame's bottom) and its
    track were kept by `decided_by`."""
    from animproc.temporal.stages import KnownCharacters

    known = KnownCharacters.__new__(KnownCharacters)
    known.faces = known.index = known.clusters = None
    known.instances = pd.DataFrame({"instance_id": ["i0"], "shot_id": [0], "frame_index": [8], "bbox_y": [90.0],
                                    "bbox_h": [270.0], "decided_by": [decided_by]})
    return known


def test_a_faceless_instance_scales_its_shot_only_where_a_person_kept_it():
    """`review: auto` keeps what the instance classifier predicted: on a faceless region (a river bank, a
    credits block) that is a guess, so the shot reads as it does without the review (a view); an instance a
    person kept is a figure, and its box (cut by the frame) makes the shot `medium`."""
    tracks = pd.DataFrame({"shot_id": [0], "track_id": ["0-0"], "source": ["instance"],
                           "path": [json.dumps([[f, 0.3, 0.625, 0.5, 0.75] for f in (4, 8, 12)])],
                           "instance_ids": [json.dumps(["i0"])]})
    for decided_by, scale in (("auto", "extreme_long"), ("prediction", "extreme_long"), ("person", "medium")):
        known = _instances_known(decided_by)
        table = structure_rows("f", _shots(1), {0: _found(0.6)}, known, 360.0, [], FilmConfig(), {"tracks": tracks})
        assert list(table["scale"]) == [scale], decided_by
    auto = _instances_known("auto")
    assert motion_figures({"tracks": tracks}, auto.unconfirmed())[1] == {}
    assert motion_figures({"tracks": tracks})[1][0][8] == (0.25, 1.0)
    poses = pd.DataFrame({"shot_id": [0], "track_id": ["0-0"], "frame_index": [8], "layout": "blazepose33",
                          "keypoints": "[]", "coco17": [json.dumps(_figure(0.05, 1.8).tolist())]})
    assert motion_figures({"tracks": tracks, "poses": poses}, auto.unconfirmed()) == ({}, {})
    table = structure_rows("f", _shots(1), {0: _found(0.6)}, auto, 360.0, [], FilmConfig(),
                           {"tracks": tracks, "poses": poses})
    assert list(table["scale"]) == ["extreme_long"]


def test_a_face_the_faces_product_sees_on_one_frame_only_does_not_override_the_scans_own_looks():
    """Shot 0: one product face on one frame, no face on the scan's looks: a lone detection (rocks, a tower):
    the shot reads as faceless, its face track gives no figure either. Shot 1: the same lone face, but the
    scan's looks see a face: their ratios decide. Shot 2: product faces on two frames decide over the scan's."""
    from animproc.temporal.stages import KnownCharacters

    known = KnownCharacters.__new__(KnownCharacters)
    known.instances = known.index = known.clusters = None
    known.faces = pd.DataFrame({"frame_index": [8, 32, 56, 60], "shot_id": [0, 1, 2, 2],
                                "y0": [100.0, 100.0, 100.0, 100.0], "y1": [130.0, 130.0, 250.0, 250.0]})
    found = {k: _found(0.6) for k in range(3)}
    found[1]["face_ratios"] = [0.12, 0.12, 0.12]
    found[2]["face_ratios"] = [0.12]
    track = pd.DataFrame({"shot_id": [0], "track_id": ["0-0"], "source": ["face"], "instance_ids": ["[]"],
                          "path": [json.dumps([[f, 0.5, 0.6, 0.3, 0.8] for f in (4, 8, 12)])]})
    table = structure_rows("f", _shots(3), found, known, 360.0, [], FilmConfig(), {"tracks": track})
    assert list(table["scale"]) == ["extreme_long", "medium_long", "close_up"]
    assert json.loads(table["scale_evidence"][1])["frames_with_face"] == 3
    assert motion_figures({"tracks": track}, lone_shots={0}) == ({}, {})
    assert motion_figures({"tracks": track})[1][0]


def test_faceless_scale_none_keeps_every_faceless_shot_without_a_reviewed_figure_no_subject():
    config = FilmConfig(temporal=TemporalConfig(faceless_scale="none"))
    found = {0: _found(0.6), 1: _found(0.6), 2: _found(0.05), 3: _found(0.6)}
    table = structure_rows("f", _shots(4), found, _Reviewed(), 360.0, [], config, _motion())
    assert set(table["scale"]) == {"no_subject"}


def test_a_figure_cut_closer_than_the_largest_face_decides_the_scale():
    """Shot 0: a small face in the back (long) and a figure seen from behind cut at the hips (medium): the
    figure's pose decides. Shot 1: a close-up face keeps its scale beside a wider pose. Shot 2: a pose that
    shows only a face never overrides the face detector."""
    found = {k: _found(0.6) for k in range(3)}
    found[0]["face_ratios"] = [0.05, 0.05]
    found[1]["face_ratios"] = [0.5]
    found[2]["face_ratios"] = [0.12]
    hips = json.dumps(_figure(0.05, 1.8).tolist())
    face_only = json.dumps(_figure(0.3, 12.0).tolist())
    poses = pd.DataFrame({"shot_id": [0, 0, 1, 2], "frame_index": [4, 8, 28, 52], "layout": "blazepose33",
                          "keypoints": "[]", "coco17": [hips, hips, hips, face_only]})
    table = structure_rows("f", _shots(3), found, _Reviewed(), 360.0, [], FilmConfig(), {"poses": poses})
    assert list(table["scale"]) == ["medium", "close_up", "medium_long"]
    evidence = json.loads(table["scale_evidence"][0])
    assert evidence["from"] == "pose" and evidence["face_scale"] == "long"
    none = FilmConfig(temporal=TemporalConfig(faceless_scale="none"))
    assert structure_rows("f", _shots(3), found, _Reviewed(), 360.0, [], none, {"poses": poses})["scale"][0] == "long"


def test_a_figure_whose_legs_are_in_the_picture_but_unseen_is_not_read_as_cut_and_keeps_the_face_scale():
    """Knees and ankles placed inside the picture at low visibility are occluded or missed, not cut off by the
    frame: for overriding a face such a pose is no evidence (the sample film's three characters, drawn flat,
    read `medium` this way beside a right `medium_long` face); legs placed below the picture still are."""
    hidden_legs = _figure(0.1, 0.95)
    hidden_legs[13:, 2] = 0.2  # knees and ankles: inside the picture, barely visible
    assert pose_frame_scale(hidden_legs, T)[0] == "medium"
    assert pose_frame_scale(hidden_legs, T, cut_by_frame=True) is None
    assert pose_frame_scale(_figure(0.05, 1.8), T, cut_by_frame=True)[0] == "medium"
    found = {0: _found(0.6)}
    found[0]["face_ratios"] = [0.12, 0.12]
    poses = pd.DataFrame({"shot_id": [0, 0], "frame_index": [4, 8], "layout": "blazepose33", "keypoints": "[]",
                          "coco17": [json.dumps(hidden_legs.tolist())] * 2})
    table = structure_rows("f", _shots(1), found, _Reviewed(), 360.0, [], FilmConfig(), {"poses": poses})
    assert list(table["scale"]) == ["medium_long"]


def test_a_shot_whose_pictures_change_without_aligning_is_not_static(tmp_path):
    """Where no frame pair can be measured, pictures that keep changing (fast action, shake, blur) read
    `handheld` at low confidence, a flat held picture stays `static`; without the fallback both are static."""
    from animproc.temporal.structure import scan_structure
    from media_helpers import write_video

    rng = np.random.default_rng(4)
    chaos = [cv2.GaussianBlur(rng.integers(0, 255, (180, 320, 3)).astype(np.uint8), (0, 0), 1) for _ in range(24)]
    flat = [np.full((180, 320, 3), 90, np.uint8)] * 24
    path = write_video(tmp_path / "action.mp4", chaos + flat)
    shots = pd.DataFrame({"shot_id": [0, 1], "start_frame": [0, 24], "end_frame": [23, 47]})
    found = scan_structure(path, shots, 24.0, T)
    assert found[0]["camera"].label == "handheld" and found[0]["camera"].confidence < 0.5
    assert found[0]["camera"].evidence["picture_change"] >= 12
    assert found[1]["camera"].label == "static"
    plain = scan_structure(path, shots, 24.0, TemporalConfig(camera_fallback=False))
    assert plain[0]["camera"].label == "static" and "picture_change" not in plain[0]["camera"].evidence


def test_a_short_shot_is_looked_at_for_faces_three_times_and_a_long_one_at_the_interval():
    from animproc.temporal.structure import face_cadence

    def looks(start, end, every, min_looks=1):
        cadence = face_cadence(start, end, every, min_looks)
        return [i for i in range(start, end + 1) if cadence.due(i)]

    assert looks(76, 95, 48) == [86]  # before: once, in the middle
    assert looks(76, 95, 48, 3) == [79, 85, 91]
    assert looks(0, 199, 48, 3) == [24, 72, 120, 168]


def _dark_hazy(shift: float, seed: int = 3) -> np.ndarray:
    """A dim, soft picture (no corner stands out) seen `shift` px further right: the picture moves left."""
    rng = np.random.default_rng(seed)
    world = cv2.GaussianBlur(rng.integers(0, 255, (240, 480)).astype(np.float32), (0, 0), 9)
    world = cv2.normalize(world, None, 18, 30, cv2.NORM_MINMAX)
    m = np.float32([[1, 0, -shift - 40], [0, 1, -30]])
    return cv2.warpAffine(world, m, (320, 180), borderMode=cv2.BORDER_REFLECT).astype(np.uint8)


def test_phase_correlation_measures_a_dark_hazy_pan_the_corners_cannot():
    frames = [_dark_hazy(8.0 * k) for k in range(12)]
    corners = [pair_motion(a, b, 1 / 6) for a, b in zip(frames, frames[1:])]
    assert all(p is None or p.inliers < 0.5 for p in corners)
    assert classify_movement([p for p in corners if p is not None]).label == "static"
    pairs = [phase_motion(a, b, 1 / 6) for a, b in zip(frames, frames[1:])]
    assert all(p is not None and p.method == "phase" for p in pairs)
    assert np.median([p.tx for p in pairs]) == pytest.approx(-8.0 / 320, abs=0.003)
    movement = classify_movement(pairs)
    assert movement.label == "pan_right" and movement.evidence["phase_pairs"] == len(pairs)


def test_phase_correlation_finds_nothing_in_black_and_ignores_a_character_under_the_mask():
    black = np.zeros((180, 320), np.uint8)
    assert phase_motion(black, black, 1 / 6) is None
    still = _dark_hazy(0.0)
    a, b = still.copy(), still.copy()
    a[40:140, 100:160] = 200  # a bright character moving right over a still background
    b[40:140, 130:190] = 200
    mask = np.full((180, 320), 255, np.uint8)
    mask[30:150, 90:200] = 0
    pair = phase_motion(a, b, 1 / 6, mask)
    assert pair is not None and abs(pair.tx) < 0.003 and abs(pair.ty) < 0.003


def _hist_of(bgr: tuple[int, int, int]) -> np.ndarray:
    from animproc.temporal.structure import _hist

    return _hist(np.full((36, 64, 3), bgr, np.uint8))


def _looks(faces: list[float], colours: list[tuple[int, int, int]], start: int = 0, step: int = 8) -> list[tuple]:
    return [(start + step * i, r, _hist_of(c)) for i, (r, c) in enumerate(zip(faces, colours))]


SAND, SNOW, NIGHT = (60, 150, 200), (235, 235, 235), (110, 40, 20)


def test_a_lone_face_at_a_shot_end_in_another_pictures_colours_is_from_elsewhere():
    """Seen once, on the first (or last) look, in colours unlike the faceless looks': another shot's face through
    a missed transition. Seen in the shot's own colours (its subject turning to the camera), in the middle,
    on two looks, or with fewer than three looks: the shot's own."""
    from animproc.temporal.structure import faces_from_elsewhere

    s = T.scene_similarity
    assert faces_from_elsewhere(_looks([0.3, 0, 0, 0], [NIGHT, SAND, SAND, SAND], start=100), s) == (108, 124)
    assert faces_from_elsewhere(_looks([0, 0, 0.3], [SAND, SAND, NIGHT]), s) == (0, 8)
    assert faces_from_elsewhere(_looks([0, 0, 0.3], [SAND, SAND, SAND]), s) is None
    assert faces_from_elsewhere(_looks([0, 0.3, 0], [SAND, NIGHT, SAND]), s) is None
    assert faces_from_elsewhere(_looks([0.3, 0, 0.2], [NIGHT, SAND, NIGHT]), s) is None
    assert faces_from_elsewhere(_looks([0.3, 0], [NIGHT, SAND]), s) is None


def test_with_faces_from_elsewhere_a_shot_is_scaled_from_its_middle_and_the_default_keeps_the_face():
    """Shot 0: a desert whose first look shows the last shot's face (no figure in its middle): a view, with
    the option, `medium` from the face without it. Shot 1: the face at its end is another shot's, and a figure
    cut at the hips is posed between its faceless looks: `medium` from the pose; a pose outside them (at the
    face's look) is not used. Shot 2: a lone face in the shot's own colours keeps its scale either way."""
    found = {k: _found(0.6) for k in range(3)}
    found[0].update(face_ratios=[0.2], face_looks=_looks([0.2, 0, 0], [NIGHT, SAND, SAND], start=2))
    found[1].update(face_ratios=[0.6], face_looks=_looks([0, 0, 0.6], [SNOW, SNOW, NIGHT], start=26))
    found[2].update(face_ratios=[0.12], face_looks=_looks([0, 0, 0.12], [SAND, SAND, SAND], start=50))
    hips, whole = json.dumps(_figure(0.05, 1.8).tolist()), json.dumps(_figure(0.4, 0.7).tolist())
    poses = pd.DataFrame({"shot_id": [0, 1, 1], "frame_index": [2, 30, 42], "layout": "blazepose33",
                          "keypoints": "[]", "coco17": [whole, hips, whole]})
    option = FilmConfig(temporal=TemporalConfig(faces_from_elsewhere=True))
    table = structure_rows("f", _shots(3), copy.deepcopy(found), _Reviewed(), 360.0, [], option, {"poses": poses})
    assert list(table["scale"]) == ["extreme_long", "medium", "medium_long"]
    evidence = [json.loads(e) for e in table["scale_evidence"]]
    assert evidence[0]["face_set_aside"] and evidence[1]["from"] == "pose" and "face_set_aside" not in evidence[2]
    default = structure_rows("f", _shots(3), copy.deepcopy(found), _Reviewed(), 360.0, [], FilmConfig(),
                             {"poses": poses})
    assert list(default["scale"]) == ["medium", "close_up", "medium_long"]


def test_the_structure_scan_records_every_face_look_with_its_colours(tmp_path):
    """Each look's frame and largest face (0 where none), so that where in a shot its faces were seen is known."""
    from animproc.temporal.structure import scan_structure
    from media_helpers import write_video

    frames = [np.full((180, 320, 3), SAND, np.uint8)] * 24 + [np.full((180, 320, 3), SNOW, np.uint8)] * 24
    path = write_video(tmp_path / "two.mp4", frames)
    shots = pd.DataFrame({"shot_id": [0, 1], "start_frame": [0, 24], "end_frame": [23, 47]})
    seen = {}

    def detect(bgr):
        seen[len(seen)] = bgr
        return [type("F", (), {"height": 0.25 * bgr.shape[0]})()] if bgr[..., 2].mean() > 220 else []

    found = scan_structure(path, shots, 24.0, T, detect)
    looks = {s: found[s]["face_looks"] for s in (0, 1)}
    assert [len(v) for v in looks.values()] == [3, 3]
    assert all(0 <= f <= 23 for f, _, _ in looks[0]) and all(24 <= f <= 47 for f, _, _ in looks[1])
    assert [r for _, r, _ in looks[0]] == [0.0] * 3 and [round(r, 2) for _, r, _ in looks[1]] == [0.25] * 3
    assert found[1]["face_ratios"] == [r for _, r, _ in looks[1]]
    assert all(h.shape == (128,) and abs(h.sum() - 1) < 1e-6 for _, _, h in looks[0] + looks[1])


def test_the_structure_scan_reads_a_drift_that_turns_back_as_moving_and_camera_window_0_as_before(tmp_path):
    """`temporal.camera_window_s` reaches the scan: a camera drifting right, resting and drifting back reads as
    a pan with the one-second windows, `static` on the shot's median alone (0)."""
    from animproc.temporal.structure import scan_structure
    from media_helpers import write_video

    world = cv2.GaussianBlur(np.random.default_rng(2).integers(0, 255, (720, 1280)).astype(np.uint8), (0, 0), 2)
    frames, cx, ends = [], 640.0, np.cumsum([1.5, 0.8, 1.5])
    for k in range(int(ends[-1] * 24)):
        m = np.float32([[0.5, 0, 160 - 0.5 * cx], [0, 0.5, 90 - 0.5 * 360.0]])
        frames.append(cv2.cvtColor(cv2.warpAffine(world, m, (320, 180), borderMode=cv2.BORDER_REFLECT),
                                   cv2.COLOR_GRAY2BGR))
        cx += (1, 0, -1)[int(np.searchsorted(ends, k / 24, side="right"))] * 0.036 * 320 / 0.5 / 24
    path = write_video(tmp_path / "drift.mp4", frames)
    shots = pd.DataFrame({"shot_id": [0], "start_frame": [0], "end_frame": [len(frames) - 1]})
    assert scan_structure(path, shots, 24.0, T)[0]["camera"].label.startswith("pan_")
    assert scan_structure(path, shots, 24.0, TemporalConfig(camera_window_s=0))[0]["camera"].label == "static"


def test_a_labelled_shot_is_scored_against_the_detected_shot_overlapping_it_most():
    from animproc.temporal.evaluate import most_overlapping, structure_scores

    detected = pd.DataFrame({"start_frame": [0, 30, 60], "end_frame": [29, 59, 89],
                             "scale": ["close", "long", "medium"], "camera": ["static", "moving", "static"]})
    assert most_overlapping(detected, 25, 50) == 1 and most_overlapping(detected, 100, 120) is None
    reference = [{"start_frame": 25, "end_frame": 50, "scale": "long"},
                 {"start_frame": 55, "end_frame": 89, "scale": "close", "camera": "static"},
                 {"start_frame": 100, "end_frame": 120, "scale": "long"}]
    scores = structure_scores(detected, reference)
    assert scores["matched"] == 2 and scores["scale"] == {"accuracy": 0.5, "shots": 2,
                                                           "confusion": {"close": {"medium": 1}, "long": {"long": 1}}}
    assert scores["camera"]["accuracy"] == 1.0 and scores["camera"]["shots"] == 1
