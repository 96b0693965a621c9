"""Frame selection that adapts to the film: the same decisions for a native delivery and a soft upscale,
each shot keeping its best frames, and a warning when the checks drop most of the sampled frames."""
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from animproc.config import FilmConfig
from animproc.image.curate import curate
from animproc.image.preview import read_image
from animproc.image.quality import content_box, film_detail, probe_gray
from animproc.video.probe import probe_media
from animproc.video.scan import FrameWriter, scan_film
from media_helpers import natural_scene, upscale_video, write_video

W, H, SHOTS, PER_SHOT = 384, 216, 6, 7
DROPPED = {0: ("too dark",), 3: ("smeared", "soft for its shot"), 6: ("soft for its shot",)}  # frame in a shot


def _jpeg(img: np.ndarray) -> np.ndarray:
    return cv2.imdecode(cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 92])[1], cv2.IMREAD_COLOR)


def _soft_upscale(img: np.ndarray, factor: int) -> np.ndarray:
    big = cv2.resize(img, (img.shape[1] * factor, img.shape[0] * factor), interpolation=cv2.INTER_CUBIC)
    return cv2.GaussianBlur(big, (0, 0), 0.4 * factor)


def synthetic_film() -> tuple[list[np.ndarray], pd.DataFrame]:
    """Six shots panning over scenes rendered at twice the delivery's detail: in each, the end of a fade
    from black, a whip pan, a defocused frame and sharp ones; shot 4 is soft all through (depth of field),
    shot 5 has a flat grey frame."""
    frames, rows = [], []
    for shot in range(SHOTS):
        master = natural_scene(100 + shot, 2 * H, 4 * W)
        for k in range(PER_SHOT):
            x = k * master.shape[1] // (2 * PER_SHOT)
            view = cv2.resize(master[:, x:x + 2 * W], (W, H), interpolation=cv2.INTER_AREA)
            if shot == 4:
                view = cv2.GaussianBlur(view, (0, 0), 1.5)
            if k == 0:
                view = (view * 0.03).astype(np.uint8)
            elif k == 3:
                view = cv2.filter2D(view, -1, np.full((1, W // 8), 8 / W, np.float32))
            elif k == 5 and shot == 5:
                view = np.full_like(view, 120)
            elif k == 6:
                view = cv2.GaussianBlur(view, (0, 0), 1.5)
            frames.append(_jpeg(view))
            rows.append({"frame_index": shot * 100 + k, "shot_id": shot})
    return frames, pd.DataFrame(rows)


def _kept(table: pd.DataFrame) -> set[int]:
    return set(table.loc[table["kept"], "frame_index"])


def test_a_soft_3x_upscale_keeps_the_same_frames_and_every_shot_keeps_some():
    frames, table = synthetic_film()
    upscaled = [_jpeg(_soft_upscale(f, 3)) for f in frames]
    delivered_512 = [cv2.Laplacian(probe_gray(f)[::2, ::2], cv2.CV_32F).var() for f in upscaled]
    native_lap = [cv2.Laplacian(probe_gray(f), cv2.CV_32F).var() for f in frames]
    assert np.median(delivered_512) < np.median(native_lap) / 2  # at a fixed 512 px the upscale looks blurred
    native = curate(table, lambda i: frames[i], FilmConfig())
    upscale = curate(table, lambda i: upscaled[i], FilmConfig())
    a, b = _kept(native.frames), _kept(upscale.frames)
    assert len(a & b) / len(a | b) >= 0.8, (sorted(a), sorted(b))
    for result in (native, upscale):
        out = result.frames
        assert out.groupby("shot_id")["kept"].any().all()  # the soft shot 4 too
        sharp_shots = out[out["shot_id"] != 4]
        for k, why in DROPPED.items():
            assert sharp_shots.loc[sharp_shots["frame_index"] % 100 == k, "drop_reason"].str.startswith(why).all()
        assert out.loc[out["frame_index"] == 505, "drop_reason"].item().startswith("low contrast")
        assert out["kept"].eq(out["keep_reason"].notna()).all() and out["kept"].eq(out["drop_reason"].isna()).all()
        assert result.warning is None
    assert 2.4 <= upscale.detail.pixels_per_detail / native.detail.pixels_per_detail <= 3.6
    (nw, nh), (uw, uh) = native.detail.working_size, upscale.detail.working_size
    assert 0.75 <= uw / nw <= 1.33 and 0.75 <= uh / nh <= 1.33


@pytest.mark.parametrize("factor", [2, 4])
def test_detail_size_follows_the_upscale_factor(factor):
    scenes = [cv2.cvtColor(cv2.resize(natural_scene(s, 2 * H, 2 * W), (W, H), interpolation=cv2.INTER_AREA),
                           cv2.COLOR_BGR2GRAY) for s in range(4)]
    native = film_detail(scenes, (0, 0, W, H))
    grays = [probe_gray(_jpeg(_soft_upscale(cv2.cvtColor(g, cv2.COLOR_GRAY2BGR), factor))) for g in scenes]
    upscale = film_detail(grays, (0, 0, grays[0].shape[1], grays[0].shape[0]))
    assert native.pixels_per_detail <= 1.3
    assert 0.75 * factor <= upscale.pixels_per_detail / native.pixels_per_detail <= 1.25 * factor


def test_letterbox_bars_are_left_out_of_the_content_box():
    frames = []
    for s in range(3):
        img = np.zeros((360, 640), np.uint8)
        img[44:316] = cv2.cvtColor(natural_scene(s, 272, 640), cv2.COLOR_BGR2GRAY)
        frames.append(img)
    assert content_box(np.maximum.reduce(frames)) == (0, 44, 640, 316)
    dark_scene = np.full((360, 640), 15, np.uint8)  # a dark frame is no bar: the box stays whole
    assert content_box(dark_scene) == (0, 0, 640, 360)


def test_most_frames_rejected_gives_a_warning_naming_the_setting_and_what_was_kept():
    frames, table = synthetic_film()
    config = FilmConfig.model_validate({"quality": {"min_contrast": 60}})
    result = curate(table, lambda i: frames[i], config)
    assert result.warning is not None
    assert "'low contrast'" in result.warning and "quality.min_contrast = 60" in result.warning
    assert f"of {len(table)} sampled frames" in result.warning and "0 of 6 shots keep frames" in result.warning


def test_an_absolute_sharpness_floor_still_keeps_each_shots_best_frames():
    frames, table = synthetic_film()
    config = FilmConfig.model_validate({"quality": {"min_sharpness": 1e9}})
    out = curate(table, lambda i: frames[i], config)
    kept = out.frames[out.frames["kept"]]
    assert kept.groupby("shot_id").size().tolist() == [3] * SHOTS
    assert kept["keep_reason"].str.contains("kept although below min_sharpness").all()
    dropped = out.frames.loc[~out.frames["kept"], "drop_reason"]
    assert dropped.str.startswith("not sharp").sum() >= SHOTS
    assert out.warning is not None and "quality.min_sharpness" in out.warning
    assert "kept instead: each shot's best 3 usable frames, 18 of them below min_sharpness" in out.warning


def test_duplicates_alone_give_no_warning():
    frames, table = synthetic_film()
    still = [frames[1]] * len(frames)  # one frame over and over: nothing is lost by dropping copies
    result = curate(table, lambda i: still[i], FilmConfig())
    assert int(result.frames["kept"].sum()) == 1 and result.warning is None


def _select(path, folder) -> pd.DataFrame:
    """Sampling and frames_processed's selection, as the assets run them."""
    folder.mkdir()
    config = FilmConfig()
    scan = scan_film(path, config, probe_media(path).fps, FrameWriter(lambda n, b: (folder / n).write_bytes(b)),
                     skip_loop_filter="noref")
    table = scan.frames_table()
    return curate(table, lambda i: read_image(folder / table.loc[i, "image"]), config).frames


@pytest.mark.media
@pytest.mark.slow
def test_sintel_trailer_at_480p_and_as_a_1080p_upscale_keeps_counts_within_20_percent(shared_media, tmp_path):
    """The trailer (480x204) and the same re-encoded to 1920x1080: the kept counts within 20% of each other,
    and nearly every kept frame of one has a kept frame of the other within half a second."""
    source = shared_media / "sintel_trailer" / "sintel.mp4"
    upscale = upscale_video(source, tmp_path / "sintel_1080p.mp4", 1920, 1080, preset="ultrafast")
    native, big = _select(source, tmp_path / "native"), _select(upscale, tmp_path / "1080p")
    kept_native, kept_big = int(native["kept"].sum()), int(big["kept"].sum())
    assert kept_native >= 16 and abs(kept_big - kept_native) <= 0.2 * kept_native, (kept_native, kept_big)
    times_native, times_big = native.loc[native["kept"], "time"].to_numpy(), big.loc[big["kept"], "time"].to_numpy()
    matched = np.mean([np.abs(times_big - t).min() <= 0.5 for t in times_native])
    assert matched >= 0.8, matched


@pytest.mark.slow
def test_cli_run_prints_the_warning_when_the_checks_drop_most_frames(tmp_path):
    """A film whose config calls nearly every frame flat: `animproc run` says so, naming the setting."""
    clip = [cv2.cvtColor(natural_scene(s, 144, 256), cv2.COLOR_BGR2RGB) for s in (1, 2) for _ in range(36)]
    video = write_video(tmp_path / "flat.mp4", clip)
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "flat.yaml").write_text("quality: {min_contrast: 200}\n")
    env = {**os.environ, "ANIMPROC_DATA": str(tmp_path / "data"), "DAGSTER_HOME": str(tmp_path / "home"),
           "ANIMPROC_CONFIG_DIR": str(tmp_path / "configs"),
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")])}

    def cli(*args: str) -> str:
        proc = subprocess.run([sys.executable, "-m", "animproc_dagster.cli", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc.stdout

    cli("film", "add", "flat", str(video))
    out = cli("run", "flat", "--select", "frames_processed")
    line = next(x for x in out.splitlines() if "WARNING frames_processed" in x)
    assert "'low contrast' (quality.min_contrast = 200.0)" in line and "shots keep frames" in line
