"""Camera movement from global motion: synthetic moves with known rates, and the sample film's shots."""

import av
import cv2
import numpy as np
import pytest

from animproc.temporal.camera import classify_movement, shot_movement

W, H = 320, 180


def _world(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(rng.integers(0, 255, (720, 1280)).astype(np.uint8), (0, 0), 2)


def _shot(move: str, seconds: float = 3.0, fps: float = 6.0) -> list[tuple[float, np.ndarray]]:
    """Views of a textured world through a camera that moves as named (rates in the comments)."""
    world = _world()
    rng = np.random.default_rng(1)
    frames = []
    for k in range(int(seconds * fps)):
        t = k / fps
        cx, cy, zoom, angle = 640.0, 360.0, 1.0, 0.0
        if move in ("pan_right", "pan_left"):
            cx += (1 if move == "pan_right" else -1) * 0.08 * W * t * 2  # turning right: the picture moves left
        elif move in ("tilt_up", "tilt_down"):
            cy += (-1 if move == "tilt_up" else 1) * 0.08 * H * t * 2
        elif move in ("zoom_in", "zoom_out"):
            zoom = np.exp((1 if move == "zoom_in" else -1) * 0.12 * t)
        elif move == "roll":
            angle = 6.0 * t
        elif move == "handheld":
            cx += rng.normal(0, 6)
            cy += rng.normal(0, 6)
        m = cv2.getRotationMatrix2D((cx, cy), angle, zoom * 0.5)
        m[:, 2] += (W / 2 - cx, H / 2 - cy)
        frames.append((t, cv2.warpAffine(world, m, (W, H), borderMode=cv2.BORDER_REFLECT)))
    return frames


@pytest.mark.parametrize("move", ["static", "pan_right", "pan_left", "tilt_up", "tilt_down", "zoom_in", "zoom_out",
                                  "roll", "handheld"])
def test_synthetic_camera_moves_are_named(move):
    result = shot_movement(_shot(move))
    assert result.label == move, result.evidence
    assert 0.5 <= result.confidence <= 1.0


def test_dolly_is_a_scale_change_with_parallax_and_mixed_moves_are_complex():
    """A steady scale change that the similarity fit explains is a zoom; the same change leaving parallax in the
    fit's residual is a dolly (the camera moved, near and far things scale differently); two movements of
    similar strength are complex, and one that dominates names the shot."""
    from animproc.temporal.camera import PairMotion

    def pairs(tx=0.0, log_scale=0.0, residual=0.001):
        return [PairMotion(1 / 6, tx, 0.0, log_scale, 0.0, 0.9, residual) for _ in range(12)]

    assert classify_movement(pairs(log_scale=0.02)).label == "zoom_in"
    assert classify_movement(pairs(log_scale=0.02, residual=0.01)).label == "dolly_in"
    assert classify_movement(pairs(log_scale=-0.02, residual=0.01)).label == "dolly_out"
    assert classify_movement(pairs(tx=-0.01, log_scale=0.012)).label == "complex"
    assert classify_movement(pairs(tx=-0.03, log_scale=0.006)).label == "pan_right"


def test_too_few_pairs_says_so():
    result = classify_movement([])
    assert result.label == "static" and result.confidence < 0.5 and "too few" in result.evidence["note"]


def test_sample_film_camera_movement_matches_its_ground_truth(sample_film):
    """Every shot of the sample film, fades and the dissolve included: static, static, pan right, zoom in,
    static, static, as rendered."""
    path, truth = sample_film
    frames = {}
    with av.open(str(path)) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i % 4 == 0:
                gray = cv2.cvtColor(f.to_ndarray(format="bgr24"), cv2.COLOR_BGR2GRAY)
                frames[i] = cv2.resize(gray, (W, H), interpolation=cv2.INTER_AREA)
    for shot in truth["shots"]:
        picked = [(i / truth["fps"], frames[i]) for i in sorted(frames) if shot["start_frame"] <= i <= shot["end_frame"]]
        assert shot_movement(picked).label == shot["camera"], shot


def _drift_there_and_back(rate: float = 0.036, legs=(1.5, 0.8, 1.5), fps: float = 6.0):
    """A camera drifting right at `rate` frame widths per second, resting, then drifting back as far (slowly
    enough per pair not to read as shake)."""
    world = _world(2)
    frames, cx = [], 640.0
    ends = np.cumsum(legs)
    for k in range(int(ends[-1] * fps)):
        t = k / fps
        m = np.float32([[0.5, 0, W / 2 - 0.5 * cx], [0, 0.5, H / 2 - 0.5 * 360.0]])
        frames.append((t, cv2.warpAffine(world, m, (W, H), borderMode=cv2.BORDER_REFLECT)))
        cx += (1, 0, -1)[int(np.searchsorted(ends, t, side="right"))] * rate * W / 0.5 / fps
    return frames


def test_a_camera_drifting_one_way_and_back_is_moving_though_its_shot_median_is_still():
    """The per-pair median over the shot cancels a drift that turns back (the Tears of Steel bridge's camera);
    most one-second windows still move at the drift's rate, so the shot is a pan."""
    frames = _drift_there_and_back()
    assert shot_movement(frames, window_s=0).label == "static"
    result = shot_movement(frames)
    assert result.label.startswith("pan_"), result.evidence
    assert abs(result.evidence["pan_rate"]) == pytest.approx(0.036, abs=0.006)


def test_a_large_thing_passing_a_locked_camera_for_a_few_pairs_leaves_it_static():
    """A passing object (or a flash) pulls a few pairs, so a few windows: most windows, like the median, stay
    still."""
    from animproc.temporal.camera import PairMotion, steady_rates

    still = [PairMotion(1 / 6, 0.0005, -0.0005, 0.0, 0.0, 0.9, 0.001) for _ in range(10)]
    passing = [PairMotion(1 / 6, 0.03, 0.02, 0.0, 0.0, 0.7, 0.001) for _ in range(4)]
    pairs = still[:5] + passing + still[5:]
    assert max(abs(r) for r in steady_rates(pairs, 1.0)) < 0.005
    assert classify_movement(pairs).label == "static"
