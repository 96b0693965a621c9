"""`animproc review` and `animproc run` around the review gates, as a user meets them (a subprocess with its own
storage and Dagster home)."""
import os
import subprocess
import sys

import pytest


@pytest.fixture
def cli(tmp_path):
    env = {**os.environ, "ANIMPROC_DATA": str(tmp_path / "data"), "DAGSTER_HOME": str(tmp_path / "dagster_home"),
           "ANIMPROC_CONFIG_DIR": str(tmp_path / "configs")}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "animproc_dagster.cli", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=600)

    return run


def test_reviewing_a_film_that_does_not_exist_says_so(cli):
    proc = cli("review", "instances", "nosuch", "--port", "0")
    assert proc.returncode == 2
    assert "no film named 'nosuch'" in proc.stderr and "materialise" not in proc.stderr


@pytest.mark.slow
def test_running_assets_behind_an_unfinished_review_says_so_without_a_stack_trace(cli, sample_film):
    assert cli("film", "add", "clip", str(sample_film[0])).returncode == 0
    proc = cli("run", "clip", "--select", "characters")
    assert proc.returncode == 1
    assert "clip: instances await review: `animproc review instances clip`" in proc.stdout
    assert "need(s) the finished instances review of 'clip'; not run" in proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr and "FAILED" not in proc.stdout
