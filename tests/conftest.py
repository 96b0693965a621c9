"""Shared fixtures: the sample film (rendered once), generated bad inputs, and paths to real media."""
from __future__ import annotations

import json
import os
from pathlib import Path

import av
import pytest

from animproc_dagster.cli.interrupts import restore_interrupts
from dagster_helpers import run_cli
from media_helpers import mux_tone, textured, write_video

restore_interrupts()  # a suite started in the background (`make test &`) runs jobs in-process: see the module

ROOT = Path(__file__).resolve().parents[1]
SHARED_MEDIA = ROOT.parent / "shared" / "media"


@pytest.fixture(scope="session")
def sample_film(tmp_path_factory) -> tuple[Path, dict]:
    from animproc.sample.film import render_sample_film

    path = tmp_path_factory.mktemp("sample") / "sample.mp4"
    render_sample_film(path)
    return path, json.loads(path.with_suffix(".truth.json").read_text())


@pytest.fixture
def cli_env(tmp_path) -> dict[str, str]:
    """The environment of an `animproc` command with its own storage root, Dagster home and config folder
    (created, empty) under the test's folder."""
    (tmp_path / "configs").mkdir()
    return {**os.environ, "ANIMPROC_DATA": str(tmp_path / "data"), "DAGSTER_HOME": str(tmp_path / "dagster_home"),
            "ANIMPROC_CONFIG_DIR": str(tmp_path / "configs"), "PYTHONPATH": str(ROOT)}


@pytest.fixture
def cli(tmp_path, cli_env):
    """`cli(*args)` runs `animproc ARGS` in the test's folder with `cli_env` (see `run_cli`)."""
    return lambda *args, ok=True: run_cli(tmp_path, cli_env, *args, ok=ok)


@pytest.fixture
def shared_media() -> Path:
    if not SHARED_MEDIA.exists():
        pytest.skip("../shared/media is not present")
    return SHARED_MEDIA


@pytest.fixture
def bad_inputs(tmp_path, sample_film) -> dict[str, Path]:
    """Files that must be refused with a clear message."""
    src = sample_film[0].read_bytes()
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(src[: len(src) // 3])
    text = tmp_path / "notes.mp4"
    text.write_text("this is a text file, not a video\n" * 20)
    audio_only = tmp_path / "audio_only.mp4"
    with av.open(str(audio_only), "w") as c:
        s = c.add_stream("aac", rate=16000)
        s.layout = "mono"
        mux_tone(c, s, 2, 220, 0.2)
    frames = [textured(i // 12) for i in range(48)]
    fast = write_video(tmp_path / "faststart.mp4", frames, faststart=True).read_bytes()
    truncated_fast = tmp_path / "truncated_faststart.mp4"
    truncated_fast.write_bytes(fast[: len(fast) // 2])
    return {"empty": empty, "truncated": truncated, "text": text, "audio_only": audio_only,
            "truncated_faststart": truncated_fast}
