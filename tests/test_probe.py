import pytest

from animproc.errors import MediaError
from animproc.video.probe import probe_media
from media_helpers import textured, write_video


def test_probe_reads_the_sample_film(sample_film):
    """Duration, fps, frame count, resolution, codecs and audio layout come from the file."""
    path, truth = sample_film
    info = probe_media(path)
    assert (info.width, info.height) == (truth["width"], truth["height"])
    assert info.frame_count == truth["frame_count"]
    assert info.fps == pytest.approx(24.0, abs=0.01)
    assert not info.vfr
    assert info.video_codec == "h264" and info.rotation == 0
    assert [(a.codec, a.layout, a.sample_rate) for a in info.audio] == [("aac", "stereo", 48000)]
    assert info.duration_s == pytest.approx(truth["duration"], abs=0.1)


@pytest.mark.parametrize("kind, message", [
    ("empty", "file is empty"),
    ("truncated", "not a readable media file"),
    ("text", "not a readable media file"),
    ("audio_only", "no video stream (an audio-only file)"),
    ("truncated_faststart", "truncated"),
])
def test_bad_inputs_get_clear_errors(bad_inputs, kind, message):
    """Each kind of bad input is refused with a message naming the file and the problem."""
    with pytest.raises(MediaError) as err:
        probe_media(bad_inputs[kind])
    assert str(bad_inputs[kind]) in str(err.value)
    assert message in str(err.value)


def test_variable_frame_rate_is_flagged(tmp_path):
    """Irregular frame durations are reported as VFR, and the frame count is exact."""
    frames = [textured(i // 10) for i in range(30)]
    pts, t = [], 0
    for i in range(30):
        pts.append(t)
        t += (33, 50, 100)[i % 3]
    info = probe_media(write_video(tmp_path / "vfr.mp4", frames, pts_ms=pts))
    assert info.vfr
    assert info.frame_count == 30


def test_missing_file(tmp_path):
    with pytest.raises(MediaError, match="does not exist"):
        probe_media(tmp_path / "nope.mp4")


def test_rotation_is_reported_and_applied_to_written_frames(tmp_path):
    """A portrait phone video (display matrix: turn 90 degrees clockwise) is probed as rotation 90 and its
    frames are written upright."""
    from animproc.config import FilmConfig
    from animproc.video.scan import FrameWriter, scan_film
    from media_helpers import detailed, set_mp4_rotation

    import cv2
    import numpy as np

    picture = detailed(1, 180, 320)
    path = set_mp4_rotation(write_video(tmp_path / "phone.mp4", [picture] * 24), 90)
    info = probe_media(path)
    assert info.rotation == 90 and (info.width, info.height) == (320, 180)
    written = {}
    result = scan_film(path, FilmConfig(), 24.0, FrameWriter(written.__setitem__))
    assert {(f.width, f.height) for f in result.frames} == {(180, 320)}
    image = cv2.cvtColor(cv2.imdecode(np.frombuffer(next(iter(written.values())), np.uint8), cv2.IMREAD_COLOR),
                         cv2.COLOR_BGR2RGB).astype(float)
    clockwise, counter = np.rot90(picture, k=-1), np.rot90(picture, k=1)
    assert np.abs(image - clockwise).mean() < 8 < np.abs(image - counter).mean()
