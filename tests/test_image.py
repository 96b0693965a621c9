import cv2
import numpy as np
import pytest

from animproc.config import FilmConfig
from animproc.image.dedup import deduplicate, diverse_subset
from animproc.image.hashing import dhash, hamming_matrix, phash, ssim
from animproc.image.quality import blur_effect, broken_reason, measure
from animproc.image.curate import curate_frames
from media_helpers import detailed

import pandas as pd


def _sharp(seed=1, size=(360, 640)):
    return detailed(seed, *size)


def test_blur_lowers_sharpness_and_raises_blur_effect():
    img = _sharp()
    blurred = cv2.GaussianBlur(img, (0, 0), 4)
    q, qb = measure(img), measure(blurred)
    assert qb.sharpness < q.sharpness / 4
    assert qb.blur > q.blur + 0.15


def test_motion_blur_is_detected_by_blur_effect():
    img = _sharp(3)
    kernel = np.zeros((1, 21), np.float32)
    kernel[0, :] = 1 / 21
    moved = cv2.filter2D(img, -1, kernel)
    assert blur_effect(cv2.cvtColor(moved, cv2.COLOR_BGR2GRAY)) > blur_effect(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)) + 0.2


def test_broken_reasons_name_the_failed_check():
    q = measure(np.full((100, 100, 3), 3, np.uint8))
    assert broken_reason(q, 0.6, 10, 240, 12).startswith("too dark")
    q = measure(np.full((100, 100, 3), 128, np.uint8))
    assert broken_reason(q, 0.6, 10, 240, 12).startswith("low contrast")
    kernel = np.full((1, 41), 1 / 41, np.float32)
    assert broken_reason(measure(cv2.filter2D(_sharp(), -1, kernel)), 0.6, 10, 240, 12).startswith("smeared")
    assert broken_reason(measure(_sharp()), 0.6, 10, 240, 12) is None


def test_hashes_match_near_duplicates_and_separate_different_images():
    a = cv2.cvtColor(_sharp(1), cv2.COLOR_BGR2GRAY)
    noisy = np.clip(a + np.random.default_rng(0).normal(0, 3, a.shape), 0, 255).astype(np.uint8)
    other = cv2.cvtColor(_sharp(2), cv2.COLOR_BGR2GRAY)
    h = np.array([phash(a), phash(noisy), phash(other)], dtype=np.uint64)
    d = hamming_matrix(h)
    assert d[0, 1] <= 4 and d[0, 2] >= 16
    assert bin(dhash(a) ^ dhash(noisy)).count("1") <= 6


def test_ssim_is_one_for_identical_and_lower_for_different():
    a = cv2.cvtColor(_sharp(1), cv2.COLOR_BGR2GRAY)
    assert ssim(a, a) == pytest.approx(1.0, abs=1e-6)
    assert ssim(a, cv2.cvtColor(_sharp(2), cv2.COLOR_BGR2GRAY)) < 0.5


def test_deduplicate_keeps_the_sharpest_of_each_group():
    imgs = [cv2.cvtColor(_sharp(s), cv2.COLOR_BGR2GRAY) for s in (1, 1, 2, 1)]
    imgs[1] = cv2.GaussianBlur(imgs[1], (3, 3), 0)
    quality = [10.0, 5.0, 7.0, 20.0]
    out = deduplicate([phash(i) for i in imgs], [dhash(i) for i in imgs], quality, lambda k: imgs[k], 6, 12, 0.9)
    assert [d.keep for d in out] == [False, False, True, True]
    assert out[0].duplicate_of == 3 and out[1].duplicate_of == 3


def test_borderline_pairs_are_settled_by_ssim():
    """Hash distance between the two thresholds: SSIM decides, and is recorded."""
    a = cv2.cvtColor(_sharp(4), cv2.COLOR_BGR2GRAY)
    shifted = np.roll(a, 6, axis=1)
    d = max(bin(phash(a) ^ phash(shifted)).count("1"), bin(dhash(a) ^ dhash(shifted)).count("1"))
    imgs = [a, shifted]
    out = deduplicate([phash(i) for i in imgs], [dhash(i) for i in imgs], [2.0, 1.0], lambda k: imgs[k],
                      hash_distance=0, borderline_distance=64, ssim_threshold=0.0)
    assert not out[1].keep and out[1].ssim is not None and d > 0
    strict = deduplicate([phash(i) for i in imgs], [dhash(i) for i in imgs], [2.0, 1.0], lambda k: imgs[k],
                         hash_distance=0, borderline_distance=64, ssim_threshold=0.999)
    assert strict[1].keep


def test_diverse_subset_covers_every_group_before_repeats():
    hashes = [phash(cv2.cvtColor(_sharp(s), cv2.COLOR_BGR2GRAY)) for s in (1, 1, 1, 2, 3, 3)]
    groups = [0, 0, 0, 1, 2, 2]
    chosen = diverse_subset(hashes, groups, [1, 2, 3, 1, 1, 1], 3)
    assert len(chosen) == 3 and {groups[i] for i in chosen} == {0, 1, 2}
    assert 2 in chosen  # the best of group 0


def test_curate_frames_keeps_every_frame_with_metrics_and_reasons():
    """Broken frames (black, smeared) and duplicates are dropped; a soft frame that is its shot's best is
    kept; every frame says why."""
    smear = np.full((1, 41), 1 / 41, np.float32)
    images = [_sharp(1), _sharp(1), cv2.GaussianBlur(_sharp(2), (0, 0), 2), np.zeros((360, 640, 3), np.uint8),
              cv2.filter2D(_sharp(5), -1, smear), _sharp(6)]
    frames = pd.DataFrame({"frame_index": range(6), "shot_id": [0, 0, 1, 1, 2, 2], "path": [f"f/{i}.jpg" for i in range(6)]})
    out = curate_frames(frames, lambda i: images[i], FilmConfig())
    assert len(out) == 6
    assert out["kept"].tolist() == [True, False, True, False, False, True]
    assert "near duplicate of frame 0" in out.loc[1, "drop_reason"]
    assert out.loc[1, "duplicate_of"] == 0
    assert out.loc[2, "keep_reason"].startswith("rank 1 of 1 in shot 1")
    assert out.loc[3, "drop_reason"].startswith("too dark")
    assert out.loc[4, "drop_reason"].startswith(("smeared", "soft for its shot"))
    assert out["kept"].eq(out["drop_reason"].isna()).all() and out["kept"].eq(out["keep_reason"].notna()).all()
    assert {"sharpness", "blur", "brightness", "contrast", "phash", "dhash", "shot_rank"} <= set(out.columns)


def test_curate_frames_caps_for_diversity():
    images = [_sharp(s) for s in range(1, 7)]
    frames = pd.DataFrame({"frame_index": range(6), "shot_id": range(6), "path": [f"{i}" for i in range(6)]})
    config = FilmConfig.model_validate({"dedup": {"max_frames": 4}})
    out = curate_frames(frames, lambda i: images[i], config)
    assert out["kept"].sum() == 4
    assert out["drop_reason"].dropna().str.contains("diversity").all()
