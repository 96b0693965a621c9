"""The embedded BlazePose estimator: MediaPipe's pre- and post-processing (anchors, detection decoding, the
rotated crop and its projection back), the real models through the resource, and the poses table's COCO-17
points beside the estimator's own."""
import json

import cv2
import numpy as np
import pytest

from animproc.errors import ModelError
from animproc.models import PoseEstimator
from animproc.temporal.pose import (BLAZEPOSE_KEYPOINTS, COCO_KEYPOINTS, BlazePoseEstimator, box_roi,
                                    decode_detections, detection_roi, square_roi_warp, ssd_anchors, to_coco17)


@pytest.fixture(scope="module")
def blazepose() -> BlazePoseEstimator:
    from resources.pose_estimator import PoseEstimatorResource

    return PoseEstimatorResource(backend="auto", rtmpose_model=None).model()


def _picture(h=240, w=320, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (h // 8, w // 8, 3), dtype=np.uint8)
    return cv2.GaussianBlur(cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC), (5, 5), 0)


def test_anchors_are_the_detectors_2254_in_grid_order():
    anchors = ssd_anchors()
    assert anchors.shape == (2254, 2)
    assert np.allclose(anchors[0], [0.5 / 28, 0.5 / 28]) and np.allclose(anchors[1], anchors[0])
    assert np.allclose(anchors[2], [1.5 / 28, 0.5 / 28])
    assert np.allclose(anchors[1568], [0.5 / 14, 0.5 / 14]) and np.allclose(anchors[-1], [6.5 / 7, 6.5 / 7])


def test_detections_are_anchor_plus_offset_and_overlapping_ones_merge_by_score():
    anchors = ssd_anchors()
    boxes, scores = np.zeros((1, 2254, 12), np.float32), np.full((1, 2254, 1), -10, np.float32)
    raw = [11.2, -22.4, 44.8, 89.6] + [2.24, 4.48] * 4  # pixels of the 224 input
    boxes[0, 100] = raw
    boxes[0, 101] = raw  # the same anchor position, same box, lower score: merged
    scores[0, 100], scores[0, 101] = 4.0, 1.0
    boxes[0, 2000] = raw
    scores[0, 2000] = 0.5
    found = decode_detections(boxes, scores, anchors)
    assert len(found) == 2 and found[0][0] == pytest.approx(1 / (1 + np.exp(-4)))
    score, box, points = found[0]
    assert np.allclose(box, [anchors[100][0] + 0.05, anchors[100][1] - 0.1, 0.2, 0.4], atol=1e-6)
    assert np.allclose(points, anchors[100] + [0.01, 0.02], atol=1e-6)
    assert np.allclose(found[1][1][:2], anchors[2000] + [0.05, -0.1], atol=1e-6)
    assert decode_detections(boxes, np.full((1, 2254, 1), -10, np.float32), anchors) == []


def test_the_detector_crop_is_upright_for_a_standing_body_and_turned_for_one_lying_head_right():
    centre, side, rotation = detection_roi(np.array([[100.0, 200], [100, 100], [0, 0], [0, 0]]))
    assert np.allclose(centre, [100, 200]) and side == pytest.approx(250) and rotation == pytest.approx(0)
    _, _, turned = detection_roi(np.array([[100.0, 200], [200, 200], [0, 0], [0, 0]]))
    assert turned == pytest.approx(np.pi / 2)
    warp = square_roi_warp(np.array([100.0, 200]), 200.0, turned, 256)
    head = warp @ [190.0, 200, 1]
    assert head[0] == pytest.approx(128) and head[1] < 30  # the head (right of the hips) is at the crop's top
    assert np.allclose(warp @ [100.0, 200, 1], [128, 128])


def test_a_box_crop_is_an_upright_square_widened_by_a_quarter():
    centre, side, rotation = box_roi(np.array([10.0, 20, 50, 120]))
    assert np.allclose(centre, [30, 70]) and side == pytest.approx(125) and rotation == 0


def test_coco17_points_are_the_named_blazepose_points_in_coco_order():
    points = np.arange(33 * 3, dtype=np.float32).reshape(33, 3)
    coco = to_coco17(points)
    assert coco.shape == (17, 3)
    for k, name in enumerate(COCO_KEYPOINTS):
        assert np.array_equal(coco[k], points[BLAZEPOSE_KEYPOINTS.index(name)])
    assert to_coco17(coco, "coco17") is not None and np.array_equal(to_coco17(coco, "coco17"), coco)
    with pytest.raises(ValueError, match="layout"):
        to_coco17(points, "openpose18")


def test_the_embedded_default_is_blazepose_and_its_points_follow_a_turned_picture(blazepose):
    """The same crop cut from a picture and from that picture turned a quarter clockwise (the crop turned
    with it) gives the same keypoints, turned: the crop and the projection back agree on the rotation."""
    assert isinstance(blazepose, PoseEstimator) and blazepose.name == "blazepose" and blazepose.needs_frames
    assert "pose_landmark_full" in blazepose.status
    image = _picture()
    h = image.shape[0]
    rgb = np.ascontiguousarray(image[..., ::-1])
    points, presence = blazepose.landmarks(rgb, np.array([160.0, 120]), 180.0, 0.0)
    assert points.shape == (33, 3) and 0 <= presence <= 1 and ((points[:, 2] >= 0) & (points[:, 2] <= 1)).all()
    turned = np.ascontiguousarray(np.rot90(rgb, k=-1))  # (x, y) -> (h - 1 - y, x)
    again, presence_again = blazepose.landmarks(turned, np.array([h - 1 - 120.0, 160]), 180.0, np.pi / 2)
    expected = np.stack([h - 1 - points[:, 1], points[:, 0]], 1)
    assert np.abs(again[:, :2] - expected).max() < 2.0 and presence_again == pytest.approx(presence, abs=0.05)


def test_one_answer_per_box_and_no_pose_is_an_empty_array(blazepose):
    found = blazepose(_picture(), [np.array([100.0, 20, 220, 230]), np.array([0.0, 0, 40, 40])])
    assert len(found) == 2 and len(blazepose.last_presence) == 2
    for kps, presence in zip(found, blazepose.last_presence):
        assert kps.shape == ((33, 3) if presence >= 0.5 else (0, 3))


def test_a_missing_or_broken_tflite_file_is_a_model_error_naming_it(tmp_path):
    junk = tmp_path / "pose_landmark_full.tflite"
    junk.write_bytes(b"not a flatbuffer")
    with pytest.raises(ModelError, match="pose_landmark_full.tflite"):
        BlazePoseEstimator(landmark_path=junk)
    with pytest.raises(ModelError, match="not found"):
        BlazePoseEstimator(detector_path=tmp_path / "missing.tflite")


class _Counting:
    """A BlazePose-layout estimator whose keypoint k sits at x = k, y = 2k (pixels of the reduced frame)."""

    name, status, needs_frames, layout = "counting", "counting", True, "blazepose33"

    def __call__(self, bgr, boxes):
        k = np.arange(33, dtype=np.float32)
        return [np.stack([k, 2 * k, np.full(33, 0.9, np.float32)], 1) for _ in boxes]


def test_pose_rows_keep_the_estimators_33_points_and_the_coco17_points_beside_them():
    """Every half second of a track: the 33 points as shares of the picture, their layout, and the COCO-17
    points picked from them; a box without a pose gives no row."""
    from animproc.temporal.motion import _poses, _Shot
    from animproc.temporal.stages import motion_tables
    from animproc.temporal.tracks import SampledFrame, Track

    width, height = 320, 180
    shot = _Shot(3, frames=[SampledFrame(k * 4, k / 6, None, []) for k in range(6)],
                 images=[_picture(height, width, k) for k in range(6)])
    track = Track(0, boxes={k: np.array([100.0, 20, 200, 170]) for k in range(6)})
    rows = _poses(track, "3-0", shot, _Counting(), 0.5, width, height)
    assert [r["frame_index"] for r in rows] == [0, 12]
    result = type("Result", (), {"shot_id": 3, "flow": {}, "tracks": [], "actions": [], "poses": rows, "frames": []})()
    poses = motion_tables("film", [result], "dis")["poses"]
    assert (poses["layout"] == "blazepose33").all() and (poses["shot_id"] == 3).all()
    points, coco = np.array(json.loads(poses.iloc[0]["keypoints"])), np.array(json.loads(poses.iloc[0]["coco17"]))
    assert points.shape == (33, 3) and coco.shape == (17, 3)
    assert np.allclose(coco[:, 0] * width, [BLAZEPOSE_KEYPOINTS.index(n) for n in COCO_KEYPOINTS], atol=0.05)
    assert np.allclose(coco[:, 1] * height, 2 * coco[:, 0] * width, atol=0.05)

    class Nothing(_Counting):
        def __call__(self, bgr, boxes):
            return [np.zeros((0, 3), np.float32) for _ in boxes]

    assert _poses(track, "3-0", shot, Nothing(), 0.5, width, height) == []
