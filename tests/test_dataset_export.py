"""`animproc export dataset` (hf, parquet, webdataset) and `animproc timeline`: portable copies of a film's
datasets and timeline; a non-empty output folder is refused unless --overwrite, and nothing half-written stays."""
import json
import tarfile

import pandas as pd
import pytest

from multimodal_helpers import materialise_datasets


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    materialise_datasets(root)
    return root


@pytest.fixture
def cli(root, monkeypatch):
    from animproc_dagster.cli import main

    monkeypatch.setenv("ANIMPROC_DATA", str(root / "data"))
    monkeypatch.setenv("DAGSTER_HOME", str(root / "home"))
    return main


def test_hf_export_loads_with_load_from_disk_and_leaves_no_scratch(cli, tmp_path):
    from datasets import Audio, load_from_disk

    assert cli(["export", "dataset", "demo", "--task", "scene_understanding", "--format", "hf",
                "--output", str(tmp_path / "hf")]) == 0
    ds = load_from_disk(str(tmp_path / "hf"))
    assert sum(len(s) for s in ds.values()) == 3 and (tmp_path / "hf" / "README.md").exists()
    row = next(iter(ds.values())).cast_column("audio", Audio(decode=False))[0]  # decoding needs torchcodec's FFmpeg
    assert row["keyframe"].size == (160, 90) and row["audio"]["bytes"][:4] == b"RIFF"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no staging or Arrow scratch left


def test_parquet_export_is_the_hub_layout_with_its_card(cli, tmp_path):
    from datasets import load_dataset

    assert cli(["export", "dataset", "demo", "--task", "character_multimodal", "--output", str(tmp_path / "pq")]) == 0
    card = (tmp_path / "pq" / "README.md").read_text()
    assert card.startswith("---\nlicense: unknown")
    ds = load_dataset(str(tmp_path / "pq"))  # the card's configs name the data files
    assert sum(len(s) for s in ds.values()) == 6


def test_webdataset_export_writes_tar_shards_with_key_files_and_json(cli, tmp_path):
    assert cli(["export", "dataset", "demo", "--task", "character_multimodal", "--format", "webdataset",
                "--output", str(tmp_path / "wds")]) == 0
    shard = next((tmp_path / "wds" / "train").glob("*.tar"))
    with tarfile.open(shard) as tar:
        names = tar.getnames()
        meta = json.loads(tar.extractfile(next(n for n in names if n.endswith(".json"))).read())
    key = meta["key"]
    assert {f"{key}.json", f"{key}.face_image.jpg", f"{key}.instance_image.png", f"{key}.voice_clip.wav"} <= set(names)
    assert meta["character"] in ("ava", "bo") and meta["voice_clip"] == f"{key}.voice_clip.wav"
    assert json.loads(shard.with_name(shard.stem + "_stats.json").read_text())["successes"] == len(
        [n for n in names if n.endswith(".json")])


def test_export_refuses_a_non_empty_folder_unless_overwrite_and_leaves_no_partial_folder(cli, tmp_path, capsys):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    args = ["export", "dataset", "demo", "--task", "emotion_analysis", "--output", str(out)]
    assert cli(args) == 2
    assert "folder is not empty; pass --overwrite" in capsys.readouterr().err
    assert (out / "keep.txt").read_text() == "mine"
    assert cli([*args, "--overwrite"]) == 0
    assert not (out / "keep.txt").exists() and (out / "README.md").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["taken"]  # no staging or old folder left beside it


def test_a_failed_export_leaves_nothing(cli, tmp_path, monkeypatch):
    import animproc.datasets.export as export

    def broken(*args):
        raise OSError("disk full")
    monkeypatch.setattr(export, "_webdataset", broken)
    with pytest.raises(OSError):
        cli(["export", "dataset", "demo", "--task", "action_recognition", "--format", "webdataset",
             "--output", str(tmp_path / "w")])
    assert list(tmp_path.iterdir()) == []


def test_export_of_a_dataset_not_built_names_the_command_to_run(cli, tmp_path, capsys):
    assert cli(["export", "dataset", "nofilm", "--task", "emotion_analysis", "--output", str(tmp_path / "x")]) == 2
    assert "has no dataset_emotion_analysis yet; run `animproc run nofilm" in capsys.readouterr().err


def test_timeline_command_writes_shots_or_slices_as_csv_or_parquet(cli, tmp_path, capsys):
    assert cli(["timeline", "demo"]) == 0
    from io import StringIO

    shots = pd.read_csv(StringIO(capsys.readouterr().out))
    assert list(shots["shot_id"]) == [0, 1, 2] and "on_screen" in shots
    assert cli(["timeline", "demo", "--slice", "0.1", "--format", "parquet", "--output", str(tmp_path / "s.parquet")]) == 0
    assert len(pd.read_parquet(tmp_path / "s.parquet")) == 60
    assert cli(["timeline", "demo", "--slice", "0.5", "--output", str(tmp_path / "half.csv")]) == 0  # built now
    half = pd.read_csv(tmp_path / "half.csv")
    assert len(half) == 12 and half["speaker"].iloc[1] == "ava"
