import cv2
import numpy as np
import pytest

from animproc.config import FilmConfig
from animproc.video.decode import FrameSignal
from animproc.video.evaluate import score_boundaries
from animproc.video.scan import FrameWriter, DefaultShotDetectors, scan_film
from animproc.video.shots import BoundaryTracker
from media_helpers import detailed, textured, write_video


def _signal(i: int, rgb: np.ndarray) -> FrameSignal:
    yuv = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV)
    step = 2
    return FrameSignal(i, i / 24, np.ascontiguousarray(yuv[::step, ::step, 0]),
                       np.ascontiguousarray(yuv[::step, ::step, 1]), np.ascontiguousarray(yuv[::step, ::step, 2]), None)


def _transitions(images: list[np.ndarray]):
    tracker = BoundaryTracker(DefaultShotDetectors(FilmConfig())(24.0), min_shot_frames=10)
    for i, img in enumerate(images):
        tracker.update(_signal(i, img))
    tracker.finish()
    return tracker.transitions


def _scan(path, config=None):
    return scan_film(path, config or FilmConfig(), 24.0, FrameWriter(lambda n, b: None))


def test_hard_cut_found_at_its_exact_frame():
    a, b = textured(1), textured(2)
    found = _transitions([a] * 30 + [b] * 30)
    assert [(t.kind, t.boundary) for t in found] == [("cut", 30)]


def test_flash_is_not_a_cut():
    """A single bright frame (lightning, muzzle flash) and the same picture after it is not a cut."""
    a = textured(1)
    flash = np.full_like(a, 250)
    assert _transitions([a] * 30 + [flash] + [a] * 30) == []


def test_camera_pan_is_neither_cut_nor_dissolve():
    wide = cv2.resize(textured(5, 144, 256), (1024, 144), interpolation=cv2.INTER_CUBIC)
    frames = [np.ascontiguousarray(wide[:, 6 * i:6 * i + 256]) for i in range(120)]
    assert _transitions(frames) == []


def test_a_cut_out_of_or_into_fast_action_is_found_and_the_action_alone_is_not_one():
    """A fast pan changes every frame nearly as much as a cut does; the shot on the cut's other side is calm,
    and the cut is judged against that side."""
    soft = lambda img: (128 + 0.7 * (img.astype(np.float32) - 128)).astype(np.uint8)  # noqa: E731
    world = soft(cv2.resize(textured(5, 144, 256), (4096, 144), interpolation=cv2.INTER_CUBIC))
    pan = [np.ascontiguousarray(world[:, 96 * i:96 * i + 256]) for i in range(30)]
    calm = soft(textured(2))
    assert [(t.kind, t.boundary) for t in _transitions(pan + [calm] * 30)] == [("cut", 30)]
    assert [(t.kind, t.boundary) for t in _transitions([calm] * 30 + pan)] == [("cut", 30)]
    assert _transitions(pan) == []


def _tinted_pan(seed: int, gain: tuple[float, float, float], mirrored: bool = False) -> list[np.ndarray]:
    """30 frames of a fast pan over a low-contrast picture of hard-edged shapes in one palette."""
    img = detailed(seed, 144, 512)
    img = np.ascontiguousarray(img[::-1, ::-1]) if mirrored else img
    img = 128 + 0.5 * (np.clip(img.astype(np.float32) * np.array(gain, np.float32), 0, 255) - 128)
    world = cv2.resize(img.astype(np.uint8), (256 + 30 * 16, 144), interpolation=cv2.INTER_CUBIC)
    return [np.ascontiguousarray(world[:, 16 * i:16 * i + 256]) for i in range(30)]


def test_a_cut_near_the_bar_is_found_when_colours_and_edges_change_with_it():
    """Between two shots of fast motion a cut changes the picture only 2.3 times as much as the motion does (the
    bar is 3): the colours and edges that change with it decide. The same change that keeps the picture's
    colours, as motion does, stays inside the shot."""
    warm, cold = (1.15, 0.95, 0.75), (0.75, 0.95, 1.15)
    shot = _tinted_pan(1, warm)
    assert [(t.kind, t.boundary) for t in _transitions(shot + _tinted_pan(2, cold))] == [("cut", 30)]
    assert _transitions(shot + _tinted_pan(1, warm, mirrored=True)) == []


def test_a_cut_soon_after_a_fade_from_black_starts_a_shot():
    """The shortest-shot rule keeps one change from being read twice; a shot that starts out of black cannot be
    such a reading, so a cut 6 frames into it (a trailer's) is kept. After a cut the rule still holds."""
    a, b, c = textured(1), textured(2), textured(3)
    black = np.zeros_like(a)
    found = _transitions([a] * 30 + [black] * 12 + [b] * 6 + [c] * 30)
    assert [t.boundary for t in found if t.boundary is not None] == [42, 48]
    assert [(t.kind, t.boundary) for t in _transitions([a] * 30 + [b] * 6 + [c] * 30)] == [("cut", 30)]


def test_lighting_change_is_not_a_dissolve():
    """Brightening one picture keeps its structure: not a transition."""
    a = textured(3).astype(np.float32)
    frames = [np.clip(a * (0.7 + 0.5 * min(1, max(0, (i - 20) / 24))), 0, 255).astype(np.uint8) for i in range(70)]
    assert _transitions(frames) == []


def test_dissolve_is_found_with_its_extent():
    a, b = textured(1).astype(np.float32), textured(2).astype(np.float32)
    frames = [a] * 30 + [a * (1 - k / 24) + b * (k / 24) for k in range(1, 24)] + [b] * 30
    found = _transitions([f.astype(np.uint8) for f in frames])
    assert [t.kind for t in found] == ["dissolve"]
    assert 28 <= found[0].first <= 32 and 51 <= found[0].last <= 55
    assert 38 <= found[0].boundary <= 46


def test_a_wipe_is_found_with_its_extent():
    """The new picture sweeps in from the left over 16 frames: one gradual change, not a cut, not a dissolve."""
    a, b = textured(1), textured(2)
    wipe = []
    for k in range(1, 17):
        frame = a.copy()
        frame[:, :k * a.shape[1] // 17] = b[:, :k * a.shape[1] // 17]
        wipe.append(frame)
    found = _transitions([a] * 30 + wipe + [b] * 30)
    assert [t.kind for t in found] == ["wipe"]
    assert 26 <= found[0].first <= 34 and 40 <= found[0].last <= 50
    assert 33 <= found[0].boundary <= 42


def test_something_crossing_the_lens_is_not_a_wipe():
    """A dark shape sweeping across the whole picture and out again (a car passing close to the camera) covers the
    picture the way a wipe does, but the old picture comes back: no new shot."""
    a = textured(1)
    w = a.shape[1]
    crossing = []
    for k in range(1, 25):
        frame = a.copy()
        left, right = max(0, (k - 12) * w // 12), min(w, k * w // 12)
        frame[:, left:right] = 30
        crossing.append(frame)
    assert [t for t in _transitions([a] * 30 + crossing + [a] * 40) if t.kind == "wipe"] == []


def test_a_title_fading_in_over_a_held_picture_is_not_a_dissolve():
    """Letters blending in over an unchanged background (a film's title over its opening shot) change only
    their own region: no new shot."""
    a = textured(1).astype(np.float32)
    titled = a.copy()
    titled[40:90, 40:200] = 245.0
    frames = [a] * 30 + [a * (1 - k / 24) + titled * (k / 24) for k in range(1, 24)] + [titled] * 30
    assert _transitions([f.astype(np.uint8) for f in frames]) == []


def test_new_grain_on_the_same_picture_is_not_a_cut():
    """A frame whose fine detail alone changes (a codec's key frame refreshing texture, new grain) while the
    picture is the same at a coarse scale is not a cut."""
    a = textured(4).astype(np.float32)
    rng = np.random.default_rng(0)
    grain = [np.clip(a + rng.normal(0, 3, a.shape), 0, 255).astype(np.uint8) for _ in range(30)]
    regrained = np.clip(a + rng.normal(0, 16, a.shape), 0, 255).astype(np.uint8)
    assert _transitions(grain + [regrained] * 30) == []
    assert [t.boundary for t in _transitions(grain + [textured(5)] * 30)] == [30]


def test_fade_through_black():
    """Fade out, black, fade in: the new shot starts at the first frame after the black run."""
    a, b = textured(1).astype(np.float32), textured(2).astype(np.float32)
    frames = [a] * 30 + [a * (1 - k / 12) for k in range(1, 13)] + [a * 0] * 8 + [b * (k / 12) for k in range(1, 13)] + [b] * 30
    found = _transitions([f.astype(np.uint8) for f in frames])
    kinds = [t.kind for t in found]
    assert kinds == ["fade_out", "fade_in"]
    fade_in = found[1]
    assert fade_in.boundary is not None and 41 <= fade_in.boundary <= 52
    assert found[0].first <= 32


def test_sample_film_boundaries_match_ground_truth(sample_film):
    """Every transition of the sample film is found: hard cuts on their exact frame, gradual ones inside
    their extent, each with its type."""
    path, truth = sample_film
    result = _scan(path)
    boundaries = [s.start_frame for s in result.shots[1:]]
    for t in truth["transitions"]:
        if t["kind"] == "cut":
            assert t["boundary"] in boundaries
    gradual = [t for t in truth["transitions"] if t["boundary"] is not None]
    score = score_boundaries([(t["first"], t["last"]) for t in gradual], boundaries, tolerance=0)
    assert score.matched == score.reference == score.detected == len(truth["cuts"])
    kinds = sorted(t.kind for t in result.transitions)
    assert kinds == sorted(t["kind"] for t in truth["transitions"])
    assert result.frame_count == truth["frame_count"]
    assert result.shots[0].start_frame == 0 and result.shots[-1].end_frame == truth["frame_count"] - 1


def test_vfr_indices_are_presentation_order_and_times_come_from_timestamps(tmp_path):
    """On variable frame rate input, the cut's index is its position and its time is its own timestamp."""
    frames = [textured(1)] * 20 + [textured(2)] * 20
    pts, t = [], 0
    for i in range(40):
        pts.append(t)
        t += (20, 45, 90)[i % 3]
    result = _scan(write_video(tmp_path / "vfr.mp4", frames, pts_ms=pts))
    assert [s.start_frame for s in result.shots] == [0, 20]
    assert result.shots[1].start_time == pytest.approx(pts[20] / 1000, abs=1e-3)
    assert result.shots[0].end_time == pytest.approx(pts[19] / 1000, abs=1e-3)


def test_scene_mode_writes_frames_per_shot(sample_film, tmp_path):
    """Scene sampling writes up to N sharp frames per shot, none inside transitions or black."""
    path, truth = sample_film
    config = FilmConfig.model_validate({"sampling": {"mode": "scene", "frames_per_shot": 2}})
    written = {}
    result = scan_film(path, config, 24.0, FrameWriter(lambda n, b: written.__setitem__(n, b)))
    per_shot = {}
    for f in result.frames:
        per_shot.setdefault(f.shot_id, []).append(f.frame_index)
    assert set(per_shot) == set(range(len(truth["shots"])))
    assert all(1 <= len(v) <= 2 for v in per_shot.values())
    gradual = [(t["first"], t["last"]) for t in truth["transitions"] if t["kind"] != "cut"]
    for f in result.frames:
        assert not any(a <= f.frame_index <= b for a, b in gradual)
        assert f"{f.frame_index:07d}.jpg" in written
        assert (f.width, f.height) == (truth["width"], truth["height"])


def test_interval_mode_samples_every_t_seconds(sample_film):
    path, truth = sample_film
    config = FilmConfig.model_validate({"sampling": {"mode": "interval", "interval_seconds": 4.0}})
    result = _scan(path, config)
    times = [f.time for f in result.frames]
    slots = {round(t / 4.0) for t in times}
    assert all(abs(t - round(t / 4.0) * 4.0) <= 1.0 for t in times)
    assert len(slots) >= truth["duration"] / 4.0 - 2  # slots that fall in the black gap may be empty
    assert all(f.reason == "interval" for f in result.frames)


def test_fast_decode_never_changes_written_frames(sample_film):
    """With deblocking skipped on unreferenced frames, every frame that can be written (I/P) decodes to
    exactly the same pixels as a full decode, and no B-frame is picked."""
    import av
    from av.video.frame import PictureType

    from animproc.video.decode import iter_signals

    path, _ = sample_film
    full = {s.index: np.asarray(s.frame.planes[0]).copy() for s in iter_signals(path)
            if s.frame.pict_type != PictureType.B}
    fast = {s.index: np.asarray(s.frame.planes[0]).copy() for s in iter_signals(path, skip_loop_filter="noref")
            if s.frame.pict_type != PictureType.B}
    assert full.keys() == fast.keys() and all(np.array_equal(full[i], fast[i]) for i in full)
    types = {}
    with av.open(str(path)) as c:
        for i, f in enumerate(c.decode(video=0)):
            types[i] = f.pict_type
    result = scan_film(path, FilmConfig(), 24.0, FrameWriter(lambda n, b: None), skip_loop_filter="noref")
    assert result.frames and all(types[f.frame_index] != PictureType.B for f in result.frames)


def test_frames_of_other_codecs_stay_eligible_when_fast_decode_is_asked(tmp_path):
    """Deblocking is only skipped for H.264/HEVC; elsewhere B-frames are decoded in full and may be written."""
    import av
    from av.video.frame import PictureType

    from animproc.video.decode import iter_signals

    path = tmp_path / "mpeg4.mp4"
    with av.open(str(path), "w") as c:
        s = c.add_stream("mpeg4", rate=24)
        s.width, s.height, s.pix_fmt = 256, 144, "yuv420p"
        s.codec_context.max_b_frames = 2
        for i in range(48):
            for p in s.encode(av.VideoFrame.from_ndarray(textured(i // 12), format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    signals = [(sig.frame.pict_type, sig.deblocked) for sig in iter_signals(path, skip_loop_filter="noref")]
    assert any(kind == PictureType.B for kind, _ in signals)
    assert all(deblocked for _, deblocked in signals)
