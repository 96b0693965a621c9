"""The instance steps work inside each mask's box and one frame's masks at a time, with the results they had
over whole frames (at 1080p the whole-frame work and a film's masks held at once were what grew with size)."""
import cv2
import numpy as np
import pandas as pd

from animproc.image.masks import bbox_of, encode_rle, overlay, soft_alpha
from animproc.instances.stages import OcclusionPlan


def _blobs(seed: int, shape=(270, 480)) -> list[np.ndarray]:
    """Ellipses anywhere in the frame, some cut by its borders."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(6):
        m = np.zeros(shape, np.uint8)
        cx, cy = int(rng.integers(0, shape[1])), int(rng.integers(0, shape[0]))
        cv2.ellipse(m, (cx, cy), (int(rng.integers(3, 150)), int(rng.integers(3, 120))), 0, 0, 360, 1, -1)
        out.append(m.astype(bool))
    return out


def _whole_frame_alpha(mask: np.ndarray, threshold: float, feather: float) -> np.ndarray:
    m = mask.astype(np.float32)
    alpha = np.maximum(cv2.GaussianBlur(m, (0, 0), feather), cv2.erode(m, np.ones((3, 3), np.uint8)))
    alpha[alpha < threshold] = 0.0
    return alpha


def _whole_frame_overlay(image: np.ndarray, masks: list[np.ndarray]) -> np.ndarray:
    from animproc.image.masks import PALETTE

    out = image.copy()
    for k, m in enumerate(masks):
        colour = np.array(PALETTE[k % len(PALETTE)], np.float32)
        out[m] = (0.55 * out[m] + 0.45 * colour).astype(np.uint8)
        contours, _ = cv2.findContours(m.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(out, contours, -1, tuple(int(c) for c in colour), 2, cv2.LINE_AA)
    return out


def test_box_of_a_mask_is_its_pixels_extent_and_empty_for_an_empty_mask():
    for m in _blobs(3):
        ys, xs = np.nonzero(m)
        assert bbox_of(m) == (xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1)
    assert bbox_of(np.zeros((5, 7), bool)) == (0, 0, 0, 0)


def test_soft_alpha_in_the_masks_window_equals_the_whole_frame_blur():
    for m in _blobs(0) + [np.zeros((270, 480), bool), np.ones((270, 480), bool)]:
        x, y, w, h = bbox_of(m)
        for feather in (max(0.8, 0.004 * max(w, h)), 2.5, 6.0):
            got = soft_alpha(m, 0.1, feather)
            assert got.shape == m.shape and got.dtype == np.float32
            np.testing.assert_allclose(got, _whole_frame_alpha(m, 0.1, feather), rtol=0, atol=1e-6)


def test_overlay_tints_and_outlines_each_mask_as_over_the_whole_frame():
    image = np.random.default_rng(1).integers(0, 255, (270, 480, 3), dtype=np.uint8)
    masks = _blobs(2)
    got = overlay(image, masks, [""] * len(masks))  # empty labels: only tint and outlines are compared
    assert np.array_equal(got, _whole_frame_overlay(image, masks))


def _instance_row(iid: str, frame: int, mask: np.ndarray, category: str = "character") -> dict:
    rle = encode_rle(mask)
    return {"instance_id": iid, "frame_index": frame, "shot_id": 0, "category": category, "mask_rle": rle["counts"],
            "mask_height": mask.shape[0], "mask_width": mask.shape[1]}


def test_occlusion_plan_decodes_the_masks_of_one_frame_at_a_time():
    body = np.zeros((120, 160), bool)
    body[20:100, 40:100] = True
    pole = np.zeros((120, 160), bool)
    pole[:, 60:75] = True
    rows = [_instance_row("f1_00", 1, body & ~pole), _instance_row("f1_01", 1, pole, "object"),
            _instance_row("f2_00", 2, body), _instance_row("f2_01", 2, ~body, "background")]
    everything = pd.DataFrame(rows)
    kept = everything[everything["instance_id"].isin(["f1_00", "f2_00"])]
    shots = pd.DataFrame({"shot_id": [0], "start_frame": [0], "end_frame": [10]})
    plan = OcclusionPlan(kept, everything, shots, threshold=0.05, window=3)
    assert not hasattr(plan, "masks")
    assert set(plan.frame_masks(1)) == {"f1_00", "f1_01"}  # the background instance is no occluder
    assert set(plan.frame_masks(2, ["f2_00"])) == {"f2_00"}
    assert [r.instance_id for r in plan.needs[1]] == ["f1_00"] and 2 not in plan.needs
    assert int(plan.regions["f1_00"].sum()) == 80 * 15  # the pole's part inside the body's hull
    assert plan.ratios["f1_00"] == 1200 / (1200 + int((body & ~pole).sum())) and plan.ratios["f2_00"] == 0
    assert plan.wanted[1] == [0, 2, 3, 4]  # neighbours a third, two thirds and all of the window away, in the shot
