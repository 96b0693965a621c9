"""The `animproc` command line, run as a user would (a subprocess with its own storage and Dagster home)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_film_add_list_run_export_remove(cli, tmp_path, sample_film):
    """The whole command-line path: add, list, run everything with progress (with `review: auto` the run goes
    on through the review gates as the sensor would), export, score shot structure and identities against the
    sample's ground truth (every scale and camera movement right, the three characters' faces in clusters of
    their own), remove."""
    (tmp_path / "configs" / "sample.yaml").write_text("review: auto\n")
    added = cli("film", "add", "sample", str(sample_film[0]))
    assert "added film 'sample'" in added.stdout and "912 frames" in added.stdout
    assert "sample" in cli("film", "list").stdout
    run = cli("run", "sample")
    for asset in ("source_video", "shots", "frames", "frames_processed", "instances", "instances_filtered",
                  "instances_inpainted"):
        assert f"materialised {asset}" in run.stdout
    assert "check shots_cover_film passed" in run.stdout and "done in" in run.stdout
    csv_text = cli("export", "shots", "sample", "--format", "csv").stdout
    assert csv_text.splitlines()[0].startswith("Scene Number,Start Frame,Start Timecode")
    assert csv_text.splitlines()[0].endswith("Scale,Camera Movement,Scene ID")  # shot_structure ran with the film
    cameras = [line.split(",")[-2] for line in csv_text.splitlines()[1:]]
    assert cameras == [s["camera"] for s in sample_film[1]["shots"]]
    scored = cli("eval", "shot-structure", "sample", "--reference", str(sample_film[0].with_suffix(".truth.json")))
    assert "6 of 6 reference shots matched" in scored.stdout and "camera: accuracy 1.000" in scored.stdout
    assert "scale: accuracy 1.000" in scored.stdout
    assert "materialised characters" in run.stdout
    identities = cli("eval", "identities", "sample", "--reference", str(sample_film[0].with_suffix(".truth.json")))
    purity = float(identities.stdout.split("purity ")[1].split()[0])
    assert purity >= 0.95 and "reference identities 3" in identities.stdout, identities.stdout
    for name in ("ava", "bo", "cy"):  # each character's faces mostly in one cluster of its own
        assert f"  {name}: cluster" in identities.stdout, identities.stdout
    assert len(csv_text.splitlines()) == 1 + len(sample_film[1]["shots"])
    out = tmp_path / "shots.json"
    cli("export", "shots", "sample", "--format", "json", "--output", str(out))
    data = json.loads(out.read_text())
    assert data["cuts"][:2] == sample_film[1]["cuts"][:2] and data["frame_count"] == 912
    assert data["shots"][2]["camera"] == "pan_right" and "scene_id" in data["shots"][0]
    removed = cli("film", "remove", "sample")
    assert "outputs stay under" in removed.stdout
    assert (tmp_path / "data" / "sample" / "frames").exists()
    assert "sample" not in cli("film", "list").stdout


def test_run_select_materialises_missing_upstream_first(cli, sample_film):
    cli("film", "add", "clip", str(sample_film[0]))
    run = cli("run", "clip", "--select", "shots")
    assert "materialising frames, shots, source_video" in run.stdout
    assert "materialised frames_processed" not in run.stdout
    again = cli("run", "clip", "--select", "frames_processed")
    assert "materialising frames_processed for film" in again.stdout


@pytest.mark.parametrize("name", ["../evil", "Has Caps", "a/b"])
def test_film_add_refuses_bad_names(cli, tmp_path, sample_film, name):
    proc = cli("film", "add", name, str(sample_film[0]), ok=False)
    assert proc.returncode != 0 and "film name" in proc.stderr
    assert not (tmp_path / "data").exists() or not any((tmp_path / "data").iterdir())


@pytest.mark.parametrize("kind", ["empty", "truncated", "text", "audio_only", "truncated_faststart"])
def test_film_add_refuses_bad_media_and_writes_nothing(cli, tmp_path, bad_inputs, kind):
    """Bad input: a clear error naming the file, no partition, no stored file."""
    proc = cli("film", "add", "bad", str(bad_inputs[kind]), ok=False)
    assert proc.returncode != 0
    assert str(bad_inputs[kind]) in proc.stderr
    assert not (tmp_path / "data" / "bad").exists()
    assert "bad" not in cli("film", "list").stdout


def test_unknown_asset_and_film_are_reported(cli, sample_film):
    assert "no film named 'ghost'" in cli("run", "ghost", ok=False).stderr
    cli("film", "add", "f", str(sample_film[0]))
    assert "unknown asset(s) nope" in cli("run", "f", "--select", "nope", ok=False).stderr


def test_sample_film_command_writes_film_and_ground_truth(cli, tmp_path):
    out = tmp_path / "s" / "film.mp4"
    proc = cli("sample-film", str(out))
    assert "912 frames" in proc.stdout
    truth = json.loads(out.with_suffix(".truth.json").read_text())
    assert len({c["name"] for c in truth["characters"]}) >= 3
    assert {t["kind"] for t in truth["transitions"]} == {"cut", "fade_out", "fade_in", "dissolve"}
    assert {s["camera"] for s in truth["shots"]} >= {"pan_right", "zoom_in", "static"}
    assert {s["speaker"] for s in truth["speech"]} == {"ava", "bo", "cy"}
    assert out.with_suffix(".rttm").read_text().count("SPEAKER") == len(truth["speech"])


def test_dagster_cli_materialises_a_film_partition(cli, cli_env, tmp_path, sample_film):
    """Dagster's own `dagster asset materialize --partition NAME` runs the same assets for a film."""
    cli("film", "add", "viadagster", str(sample_film[0]))
    proc = subprocess.run([sys.executable, "-m", "dagster", "asset", "materialize", "-m", "animproc_dagster.definitions",
                           "--select", "source_video,shots,frames", "--partition", "viadagster"],
                          cwd=ROOT, env=cli_env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "data" / "viadagster" / "frames" / "manifest.parquet").exists()
