"""The four dataset assets: Hugging Face Parquet shards that load back with their Image / Audio features, a
dataset card, lineage in every row, splits by scene; empty-but-valid datasets that say why."""
import json

import pandas as pd
import pytest
import yaml

from multimodal_helpers import materialise_datasets

TASKS = ["character_multimodal", "scene_understanding", "action_recognition", "emotion_analysis"]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("datasets")
    meta = materialise_datasets(root, config="datasets:\n  licence: cc-by-3.0\n  split_by: scene\n")
    return root / "data" / "demo", meta


def _load(folder):
    from datasets import load_dataset

    files = {s: str(folder / "data" / f"{s}-*.parquet") for s in json.loads((folder / "splits.json").read_text())
             ["splits"]}
    return load_dataset("parquet", data_files=files)


def test_each_dataset_loads_back_with_load_dataset_and_its_image_and_audio_features(built):
    from datasets import Audio, Image

    folder, meta = built
    counts = {}
    for task in TASKS:
        ds = _load(folder / f"dataset_{task}")
        counts[task] = sum(len(s) for s in ds.values())
        assert counts[task] == meta[f"dataset_{task}"]["rows"].value
    assert counts == {"character_multimodal": 6, "scene_understanding": 3, "action_recognition": 2,
                      "emotion_analysis": 6}
    scenes = _load(folder / "dataset_scene_understanding")
    features = next(iter(scenes.values())).features
    assert isinstance(features["keyframe"], Image) and isinstance(features["audio"], Audio)
    row = next(iter(scenes.values())).cast_column("audio", Audio(decode=False))[0]
    assert row["keyframe"].size == (160, 90) and row["audio"]["bytes"][:4] == b"RIFF"
    characters = pd.concat([s.to_pandas() for s in _load(folder / "dataset_character_multimodal").values()])
    assert characters["voice_clip"].map(lambda v: v is not None and v["bytes"][:4] == b"RIFF").all()
    assert set(characters["character"]) == {"ava", "bo"}
    assert json.loads(characters.iloc[0]["voice_features"])["f0_median_hz"] in (180.0, 220.0)


def test_every_row_carries_film_source_versions_review_versions_and_model_licences(built):
    from animproc.product_version import product_version
    from animproc.storage import Storage

    folder, _ = built
    storage = Storage(folder.parent)
    for task in TASKS:
        index = pd.read_parquet(folder / f"dataset_{task}" / "index.parquet")
        assert (index["film"] == "demo").all()
        versions = json.loads(index["source_versions"].iloc[0])
        assert versions["film_timeline"] == product_version(storage, "demo", "film_timeline")
        assert json.loads(index["review_versions"].iloc[0]) == {"instances": None, "identities": 3}
        models = json.loads(index["models"].iloc[0])
        assert models and all(m["licence"] and "unknown" not in m["licence"] for m in models)
    faces = json.loads(pd.read_parquet(folder / "dataset_emotion_analysis" / "index.parquet")["models"].iloc[0])
    assert {"family": "face_analyzer", "model": "embedded"}.items() <= faces[0].items()


def test_rows_of_one_scene_never_straddle_two_splits(built):
    folder, _ = built
    for task in TASKS:
        index = pd.read_parquet(folder / f"dataset_{task}" / "index.parquet")
        assert index.groupby("scene_id")["split"].nunique().max() == 1
        assert set(index["group"]) == {f"scene:{s}" for s in index["scene_id"]}


def test_the_card_states_the_configured_licence_features_splits_and_how_it_was_made(built):
    folder, _ = built
    card = (folder / "dataset_scene_understanding" / "README.md").read_text()
    header = yaml.safe_load(card.split("---")[1])
    splits = json.loads((folder / "dataset_scene_understanding" / "splits.json").read_text())["splits"]
    assert header["license"] == "cc-by-3.0"
    assert {f["name"] for f in header["dataset_info"]["features"]} >= {"keyframe", "audio", "models", "film"}
    assert {s["name"]: s["num_examples"] for s in header["dataset_info"]["splits"]} == {
        k: v["rows"] for k, v in splits.items()}
    assert "split by **scene**" in card and "`film_timeline`" in card and "| optical_flow" not in card
    assert "no learned weights (OpenCV DIS, Apache-2.0)" in card


def test_a_film_without_audio_or_reviews_gets_empty_but_valid_datasets_that_say_why(tmp_path):
    folder = tmp_path / "data" / "quiet"
    meta = materialise_datasets(tmp_path, "quiet", audio=False, reviewed=False)
    assert meta["dataset_character_multimodal"]["rows"].value == 0
    assert "no identity review yet" in meta["dataset_character_multimodal"]["empty_parts"].value["characters"]
    from datasets import Dataset, Image

    splits = json.loads((folder / "dataset_character_multimodal" / "splits.json").read_text())["splits"]
    assert splits == {"train": {"rows": 0, "files": ["data/train-00000-of-00001.parquet"], "groups": 0}}
    # load_dataset refuses a split without rows; the shard itself is a valid table with the features
    import pyarrow.parquet as pq

    empty = Dataset(pq.read_table(folder / "dataset_character_multimodal" / splits["train"]["files"][0]))
    assert len(empty) == 0 and isinstance(empty.features["face_image"], Image)
    scenes = pd.concat([s.to_pandas() for s in _load(folder / "dataset_scene_understanding").values()])
    assert len(scenes) == 3 and scenes["audio"].isna().all()
    assert meta["dataset_scene_understanding"]["empty_parts"].value["audio"] == "the film has no audio stream"
    assert "Empty parts" in (folder / "dataset_emotion_analysis" / "README.md").read_text()


@pytest.mark.slow
def test_a_reviewed_film_without_faces_gets_empty_face_datasets_that_say_why_and_full_shot_datasets(tmp_path):
    import pyarrow.parquet as pq
    from datasets import Dataset, Image

    folder = tmp_path / "data" / "faceless"
    meta = materialise_datasets(tmp_path, "faceless", faces=False)
    for name, column in (("dataset_character_multimodal", "face_image"), ("dataset_emotion_analysis", "face_image")):
        assert meta[name]["rows"].value == 0
        assert meta[name]["empty_parts"].value["characters"] == "the film has no faces of named characters"
        splits = json.loads((folder / name / "splits.json").read_text())["splits"]
        empty = Dataset(pq.read_table(folder / name / splits["train"]["files"][0]))
        assert len(empty) == 0 and isinstance(empty.features[column], Image)
        assert "no faces of named characters" in (folder / name / "README.md").read_text()
    assert meta["dataset_scene_understanding"]["rows"].value == 3


def test_splits_keep_groups_whole_fill_held_out_shares_and_repeat():
    from animproc.datasets.shards import assign_splits

    groups = pd.Series([f"scene:{k // 10}" for k in range(200)])
    first = assign_splits(groups, 0.1, 0.1, "film:task")
    assert first.equals(assign_splits(groups, 0.1, 0.1, "film:task"))
    assert pd.DataFrame({"g": groups, "s": first}).groupby("g")["s"].nunique().max() == 1
    assert (first == "test").sum() == 20 and (first == "validation").sum() == 20
    assert (assign_splits(pd.Series(["scene:0"] * 5), 0.1, 0.1, "x") == "train").all()


def test_shards_close_at_their_byte_budget_and_load_back_as_one_split(tmp_path):
    from datasets import load_dataset

    from animproc.catalogue import FilmProducts
    from animproc.datasets.shards import write_shards
    from animproc.datasets.tasks import TASKS
    from animproc.storage import Storage

    spec = TASKS["scene_understanding"]
    rows = pd.DataFrame({"shot_id": range(10), "scene_id": 0, "group": "scene:0", "split": "train",
                         "row_id": [f"r{k}" for k in range(10)]})
    picture = (tmp_path / "p.jpg")
    import cv2
    import numpy as np

    cv2.imwrite(str(picture), np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    data = picture.read_bytes()
    with FilmProducts(Storage(tmp_path / "data"), "f").publish(spec.name) as out:
        splits = write_shards(out, spec, rows, lambda r: {"keyframe": {"bytes": data, "path": None}}, {}, 500,
                              shard_bytes=3 * len(data))
    assert splits["train"]["files"] == [f"data/train-0000{k}-of-00004.parquet" for k in range(4)]
    loaded = load_dataset("parquet", data_files=str(tmp_path / "data" / "f" / spec.name / "data" / "*.parquet"))
    assert sorted(loaded["train"]["row_id"]) == sorted(rows["row_id"])


def _shard_rows(tmp_path, count: int):
    import cv2
    import numpy as np

    rows = pd.DataFrame({"shot_id": range(count), "scene_id": 0, "group": "scene:0", "split": "train",
                         "row_id": [f"r{k:03d}" for k in range(count)]})
    picture = tmp_path / "p.jpg"
    cv2.imwrite(str(picture), np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    return rows, picture.read_bytes()


def test_a_long_build_holds_at_most_one_row_group_of_images_in_memory(tmp_path):
    """Records are counted as they are made and as the injected writer puts them on disk: whatever the row
    count and the shard size, the records made and not yet written never exceed one row group."""
    import pyarrow.parquet as pq
    from datasets import Image, load_dataset

    from animproc.catalogue import FilmProducts
    from animproc.datasets.shards import parquet_writer, write_shards
    from animproc.datasets.tasks import TASKS
    from animproc.storage import Storage

    spec = TASKS["scene_understanding"]
    rows, data = _shard_rows(tmp_path, 60)
    made, written, waiting = [0], [0], []

    def load(row):
        waiting.append(made[0] - written[0])
        made[0] += 1
        return {"keyframe": {"bytes": data, "path": None}}

    class CountingWriter:
        def __init__(self, path, schema):
            self.inner = parquet_writer(path, schema)

        def write_table(self, table):
            self.inner.write_table(table)
            written[0] += table.num_rows

        def close(self):
            self.inner.close()

    with FilmProducts(Storage(tmp_path / "data"), "f").publish(spec.name) as out:
        splits = write_shards(out, spec, rows, load, {}, 500, shard_bytes=1 << 30, group_bytes=3 * len(data),
                              open_writer=CountingWriter)
    assert made[0] == written[0] == 60 and max(waiting) == 2  # a row group is 3 rows: 2 wait while one is made
    shard = tmp_path / "data" / "f" / spec.name / splits["train"]["files"][0]
    assert splits["train"]["files"] == ["data/train-00000-of-00001.parquet"]
    assert pq.ParquetFile(shard).metadata.num_row_groups == 20
    loaded = load_dataset("parquet", data_files=str(shard))["train"]
    assert loaded["row_id"] == list(rows["row_id"]) and isinstance(loaded.features["keyframe"], Image)


def test_a_build_that_fails_midway_leaves_no_product_and_no_shard_files(tmp_path, monkeypatch):
    import tempfile

    from animproc.catalogue import FilmProducts
    from animproc.datasets.shards import write_shards
    from animproc.datasets.tasks import TASKS
    from animproc.storage import Storage

    spec = TASKS["scene_understanding"]
    rows, data = _shard_rows(tmp_path, 30)
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))

    def load(row):
        if row["shot_id"] == 20:
            raise OSError("keyframe unreadable")
        return {"keyframe": {"bytes": data, "path": None}}

    products = FilmProducts(Storage(tmp_path / "data"), "f")
    with pytest.raises(OSError, match="keyframe unreadable"):
        with products.publish(spec.name) as out:
            write_shards(out, spec, rows, load, {}, 500, shard_bytes=4 * len(data), group_bytes=2 * len(data))
    assert not products.has(spec.name, "index") and not (tmp_path / "data" / "f" / spec.name).exists()
    assert not list((tmp_path / "tmp").iterdir())
    assert not [p for p in (tmp_path / "data").rglob("*.parquet")]
