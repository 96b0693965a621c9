"""datasets_all_films: one dataset per task over every film whose datasets are materialised; a film added and
materialised later joins it on the next materialisation; films without datasets are skipped and listed."""
import json

from multimodal_helpers import materialise_datasets


def _union(root, instance):
    from dagster import materialize

    from animproc_dagster.definitions import build_defs
    from assets.datasets import datasets_all_films
    from resources.storage import StorageResource

    defs = build_defs(StorageResource(root=str(root / "data")))
    result = materialize([datasets_all_films], instance=instance, resources=defs.resources)
    return result.asset_materializations_for_node("datasets_all_films")[0].metadata


def test_the_union_counts_each_film_skips_unbuilt_ones_and_grows_when_a_film_is_added(tmp_path):
    from dagster import instance_for_test
    from datasets import load_dataset

    from partitions import add_film

    with instance_for_test() as instance:
        materialise_datasets(tmp_path, "alpha", instance=instance)
        add_film(instance, "beta")  # registered, nothing materialised yet
        first = _union(tmp_path, instance)
        assert first["films"].value["dataset_scene_understanding"] == {"alpha": 3}
        assert first["skipped"].value == {"beta": ["dataset_character_multimodal", "dataset_scene_understanding",
                                                   "dataset_action_recognition", "dataset_emotion_analysis"]}
        materialise_datasets(tmp_path, "beta", instance=instance)
        second = _union(tmp_path, instance)
    assert second["films"].value["dataset_character_multimodal"] == {"alpha": 6, "beta": 6}
    assert second["skipped"].value == {}
    folder = tmp_path / "data" / "_all_films" / "datasets_all_films"
    report = json.loads((folder / "films.json").read_text())
    assert report["dataset_scene_understanding"]["rows"] == 6
    files = {s: str(folder / "scene_understanding" / "data" / f"{s}-*.parquet")
             for s in report["dataset_scene_understanding"]["splits"]}
    both = load_dataset("parquet", data_files=files)
    assert sorted(set().union(*(set(s["film"]) for s in both.values()))) == ["alpha", "beta"]
    assert sum(len(s) for s in both.values()) == 6
    assert "alpha, beta" in (folder / "scene_understanding" / "README.md").read_text()
