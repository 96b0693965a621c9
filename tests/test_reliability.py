"""Reliability and security of the platform's edges (issue 20): names that become paths, killed runs, review
files and saves, the folder swap, bad media, the review server's socket handling and file modes."""
import json

import pytest
from dagster import instance_for_test, materialize

from animproc.films import validate_film_key
from animproc.errors import FilmKeyError
from animproc.review.labels import ReviewFileError, parse_review, review_path
from review_helpers import fake_identities

FORMAT = "animproc-review/1"


def _identities(clusters: dict, faces: dict | None = None, **top) -> str:
    return json.dumps({"format": FORMAT, "film": "demo", "kind": "identities", "version": 1, "submitted": True,
                       "decisions": {"faces": faces or {}, "clusters": clusters}, **top})


ESCAPES = {
    "cluster key climbing out": ({"../../../../tmp/x": {"name": None}}, {}),
    "face moved to a climbing key": ({"0": {"name": "ava"}}, {"0000000_f00": "../../x"}),
    "name that is '..' once stripped": ({"0": {"name": " .."}}, {}),
    "name with a slash": ({"0": {"name": "a/b"}}, {}),
    "name with NUL": ({"0": {"name": "ava\x00"}}, {}),
    "name over 255 bytes": ({"0": {"name": "é" * 128}}, {}),
    "hidden name": ({"0": {"name": ".staging"}}, {}),
    "key whose default folder is too long": ({"k" * 250: {"name": None}}, {}),
    "lone surrogate": ({"0": {"name": "a\ud800"}}, {}),
}


@pytest.mark.parametrize("case", sorted(ESCAPES))
def test_review_keys_and_names_that_would_leave_their_folder_are_refused_at_parse_time(case):
    clusters, faces = ESCAPES[case]
    with pytest.raises(ReviewFileError, match="cannot be used as a folder name"):
        parse_review(_identities(clusters, faces), "identities.json", "demo", "identities")


def test_names_are_stored_stripped_and_ordinary_names_pass():
    review = parse_review(_identities({"0": {"name": "  Ava Lee "}, "1": {"name": None}}, {"0000000_f00": "1"}),
                          "identities.json", "demo", "identities")
    assert review.decisions["clusters"]["0"]["name"] == "Ava Lee"


def test_film_names_follow_the_same_component_rule():
    from animproc.films import path_component_problem

    for name in ["..", "a\x00b", "a" * 65, " a"]:
        with pytest.raises(FilmKeyError):
            validate_film_key(name)
    assert path_component_problem("x" * 255) is None and path_component_problem("x" * 256)


def test_characters_asset_refuses_a_review_that_would_write_outside_the_storage_root(tmp_path):
    """A hand-edited identities.json whose cluster key climbs out of the storage root fails the asset with the
    file's problem, and nothing is written outside the root."""
    from animproc_dagster.definitions import build_defs
    from assets.identities import characters
    from partitions import add_film
    from resources.film_config import FilmConfigResource
    from resources.storage import StorageResource

    root = tmp_path / "deep" / "er" / "data"
    st, _ = fake_identities(root)
    path = review_path(st, "demo", "identities")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_identities({"../../../../../escaped": {"name": None}},
                                {f"{k:07d}_f00": "../../../../../escaped" for k in range(4)}))
    defs = build_defs(StorageResource(root=str(root)), FilmConfigResource(config_dir=str(tmp_path / "configs")))
    with instance_for_test() as instance:
        add_film(instance, "demo")
        result = materialize([characters], partition_key="demo", instance=instance, raise_on_error=False,
                             resources=defs.resources)
    assert not result.success
    failure = [e for e in result.all_events if e.is_step_failure][0]
    assert "cannot be used as a folder name" in str(failure.event_specific_data.error.message)
    outside = [p for p in tmp_path.rglob("*") if root not in p.parents and p != root and p not in root.parents]
    assert outside == [] and not (st.asset_dir("demo", "characters")).exists()
