"""Identities carried to faceless instances (issue 15, defect 5): along motion tracks, by costume within a
shot, and by a reviewer's assignment, each instance marked with how it got its name."""
import json
import re

import numpy as np
import pandas as pd
import pytest

from animproc.identity.carry import carry_identities, source_counts
from animproc.review.labels import ReviewFileError, parse_review
from animproc_dagster.reviews import decision_version

FILM = "demo"
RED, BLUE, GREY = np.array([1.0, 0, 0]), np.array([0, 1.0, 0]), np.array([0.6, 0.6, 0.53])


def _kept(rows):
    return pd.DataFrame([{"instance_id": i, "frame_index": f, "shot_id": s, "cutout_path": f"{FILM}/c/{i}.png"}
                         for i, f, s in rows])


def _scene():
    """Two characters in shot 0 (ava in red, bo in blue), ava alone in shot 1. Faces name a0 (ava) and b0
    (bo); a1 (ava's back) and b1 (bo's profile) have no face but share their tracks; a2 has no face and no
    track but ava's costume; g0 is grey, like no one; a3 is on a track no named instance is on."""
    kept = _kept([("a0", 0, 0), ("b0", 0, 0), ("a1", 12, 0), ("b1", 12, 0), ("a2", 24, 0), ("g0", 24, 0),
                  ("a3", 40, 1)])
    faces = pd.DataFrame({"face_id": ["f0", "f1", "f2", "f3"], "instance_id": ["a0", "a0", "b0", None]})
    index = pd.DataFrame([
        {"character": "ava", "kind": "face", "id": "f0", "cluster": "0"},
        {"character": "ava", "kind": "face", "id": "f1", "cluster": "0"},
        {"character": "bo", "kind": "face", "id": "f2", "cluster": "1"},
        {"character": "ava", "kind": "instance", "id": "a0", "cluster": "0", "decision": "2 of its faces in cluster 0"},
        {"character": "bo", "kind": "instance", "id": "b0", "cluster": "1", "decision": "1 of its faces in cluster 1"}])
    tracks = pd.DataFrame({"track_id": ["0_0", "0_1", "1_0"], "shot_id": [0, 0, 1], "label": ["ava", "bo", None],
                           "instance_ids": [json.dumps(["a0", "a1", "a0"]), json.dumps(["b0", "b1"]),
                                            json.dumps(["a3"])]})
    colours = {"a0": RED, "a1": RED, "a2": RED * 0.97 + BLUE * 0.05, "b0": BLUE, "b1": BLUE, "g0": GREY,
               "a3": RED}

    def costume(path):
        v = colours[path.rsplit("/", 1)[1][:-4]]
        return v / np.linalg.norm(v)

    return kept, index, faces, tracks, costume


def test_faceless_instances_reach_their_character_along_tracks_and_by_costume_with_the_source_marked():
    """Before: `characters` names only the instances with faces (2 of 7). Carried along the motion tracks and
    by costume within the shot, 5 of 7 reach a character, each with its source; the grey one and the one on
    an unnamed track stay unnamed rather than guessed."""
    kept, index, faces, tracks, costume = _scene()
    before = set(index[index["kind"] == "instance"]["id"])
    table = carry_identities(kept, index, faces, tracks, {"0": "ava", "1": "bo"}, {}, costume, FILM)
    got = table.set_index("instance_id")
    assert table["character"].notna().sum() == 5 > len(before)
    assert got.loc["a0", ["character", "name_source", "confidence"]].tolist() == ["ava", "face", 1.0]
    assert got.loc["b0", "name_source"] == "face"
    assert got.loc["a1", ["character", "cluster", "name_source"]].tolist() == ["ava", "0", "track"]
    assert got.loc["b1", ["character", "cluster", "name_source"]].tolist() == ["bo", "1", "track"]
    assert got.loc["a2", ["character", "name_source"]].tolist() == ["ava", "person"]
    for unnamed in ("g0", "a3"):
        assert got.loc[unnamed, "name_source"] == "none" and pd.isna(got.loc[unnamed, "character"])
    assert source_counts(table) == {"face": 2, "track": 2, "person": 1, "reviewer": 0, "none": 2}
    assert table["confidence"].between(0, 1).all() and table["evidence"].str.len().gt(0).all()


def test_a_track_whose_named_members_disagree_names_no_one():
    kept, index, faces, tracks, _ = _scene()
    tracks.loc[1, "instance_ids"] = json.dumps(["b0", "a0", "b1"])  # one ava, one bo on bo's track: a tie
    table = carry_identities(kept, index, faces, tracks, {"0": "ava", "1": "bo"}, {}, None, FILM)
    assert table.set_index("instance_id").loc["b1", "name_source"] == "none"


def test_a_reviewers_assignment_overrides_every_other_source():
    """The reviewer names the grey instance bo and the unnamed track's instance ava, and takes a1 off its
    track's character."""
    kept, index, faces, tracks, costume = _scene()
    table = carry_identities(kept, index, faces, tracks, {"0": "ava", "1": "bo"},
                             {"g0": "1", "a1": "none", "a3": "0"}, costume, FILM)
    got = table.set_index("instance_id")
    assert got.loc["g0", ["character", "cluster", "name_source", "confidence"]].tolist() == ["bo", "1", "reviewer", 1.0]
    assert pd.isna(got.loc["a1", "character"]) and got.loc["a1", "name_source"] == "reviewer"
    assert got.loc["a3", ["character", "name_source"]].tolist() == ["ava", "reviewer"]


def _review(decisions):
    return json.dumps({"format": "animproc-review/1", "film": FILM, "kind": "identities", "version": 1,
                       "submitted": True, "decisions": decisions})


def test_instance_assignments_are_part_of_the_strict_identity_review_and_of_its_decision():
    plain = {"faces": {"f0": "0"}, "clusters": {"0": {"name": "ava"}}}
    before = parse_review(_review(plain), "r.json", FILM, "identities")
    assert "instances" not in before.decisions  # reviews without assignments keep their decision version
    after = parse_review(_review({**plain, "instances": {"a1": "0"}}), "r.json", FILM, "identities")
    assert after.decisions["instances"] == {"a1": "0"} and decision_version(after) != decision_version(before)
    for bad in ({"a1": 0}, {"a1": "../x"}, ["a1"]):
        with pytest.raises(ReviewFileError, match="r.json"):
            parse_review(_review({**plain, "instances": bad}), "r.json", FILM, "identities")


def _faceless_film(root):
    """The small identity review of review_helpers, plus three kept instances without a face: two on the
    motion track of cluster 0's first instance, one on no track."""
    import cv2

    from review_helpers import fake_identities

    st, faces = fake_identities(root)
    kept = st.read_parquet(st.asset_dir(FILM, "instances_inpainted") / "instances.parquet")
    extra = []
    for k in range(3):
        iid = f"back_{k}"
        path = st.asset_dir(FILM, "instances_inpainted") / "cutouts" / f"{iid}.png"
        st.write_bytes(path, cv2.imencode(".png", np.full((40, 20, 4), 200, np.uint8))[1].tobytes())
        extra.append({"instance_id": iid, "frame_index": 30 + k, "cutout_path": f"{FILM}/instances_inpainted/cutouts/{iid}.png"})
    kept = pd.concat([kept, pd.DataFrame(extra)], ignore_index=True).assign(shot_id=0)
    st.write_parquet(st.asset_dir(FILM, "instances_inpainted") / "instances.parquet", kept)
    owned = faces[faces["instance_id"].notna()]
    st.write_parquet(st.asset_dir(FILM, "identity_clusters") / "instances.parquet",
                     pd.DataFrame({"instance_id": owned["instance_id"], "cluster": owned["cluster"]}))
    st.write_parquet(st.asset_dir(FILM, "motion") / "tracks.parquet", pd.DataFrame(
        {"track_id": ["0_0"], "shot_id": [0], "label": [None],
         "instance_ids": [json.dumps(["0000000_00", "back_0", "back_1"])]}))
    return st


def test_the_identity_page_lists_instances_no_face_names_with_their_track_suggestion(tmp_path):
    from animproc.review.sources import unnamed_instance_items

    from animproc.catalogue import FilmProducts

    st = _faceless_film(tmp_path)
    items = {i["id"]: i for i in unnamed_instance_items(FilmProducts(st, FILM))}
    assert set(items) == {"back_0", "back_1", "back_2", "0000012_00", "0000013_00"}  # + the two noise faces' instances
    assert items["back_0"]["suggested"] == "0" and items["back_0"]["suggested_by"] == "track"
    assert items["back_2"]["suggested"] is None and items["back_2"]["suggested_by"] == "none"
    json.dumps(items, allow_nan=False)


@pytest.mark.slow
def test_a_reviewer_assigns_faceless_instances_on_the_identity_page_by_keyboard(tmp_path):
    """i opens the instances no face names; Enter accepts the track's suggestion, v assigns another cluster,
    Delete says no character, z undoes; the saved review holds exactly those assignments."""
    from playwright.sync_api import expect

    from animproc.review.labels import load_review
    from animproc.review.sources import identities_source
    from review_helpers import CHROMIUM, review_page

    if not CHROMIUM:
        pytest.skip("Debian chromium is not installed")
    st = _faceless_film(tmp_path / "data")
    with review_page(st, FILM, [identities_source(st, FILM)], "identities/") as page:
        page.wait_for_selector("#unnamed .inst")
        keys = page.keyboard
        ids = [page.locator("#unnamed .inst").nth(i).get_attribute("data-id") for i in range(5)]
        assert ids[:3] == ["0000012_00", "0000013_00", "back_0"]
        keys.press("i")
        for _ in range(2):
            keys.press("ArrowRight")
        keys.press("Enter")  # back_0: its track's cluster 0
        expect(page.locator('#unnamed .inst[data-id="back_0"]')).to_contain_text("(you)")
        keys.press("v")  # back_1: cluster 2 instead of the track's 0
        for _ in range(2):
            keys.press("ArrowDown")
        keys.press("Enter")
        keys.press("Delete")  # back_2: no character
        keys.press("z")
        expect(page.locator('#unnamed .inst[data-id="back_2"]')).to_contain_text("unnamed")
        keys.press("Control+y")
        expect(page.locator("#status")).to_have_text(re.compile("^saved"))
    review = load_review(st, FILM, "identities")
    assert review.decisions["instances"] == {"back_0": "0", "back_1": "2", "back_2": "none"}


def test_a_save_naming_an_unknown_instance_is_refused(tmp_path):
    from animproc.review.server import ReviewServer
    from animproc.review.sources import identities_source

    st = _faceless_film(tmp_path)
    server = ReviewServer(st, FILM, [identities_source(st, FILM)])
    try:
        with pytest.raises(ReviewFileError, match="unknown ids in 'instances'"):
            server.save("identities", {"version": 0, "decisions": {"faces": {}, "clusters": {},
                                                                   "instances": {"nosuch": "0"}}})
        assert server.save("identities", {"version": 0, "decisions": {"faces": {}, "clusters": {"0": {}},
                                                                      "instances": {"back_2": "0"}}})["version"] == 1
    finally:
        server.httpd.server_close()


def test_a_reviewers_instance_assignment_is_a_new_identity_decision_the_gate_reports(tmp_path):
    """Assigning a faceless instance changes the identity review's decision version (so the sensor and
    `animproc run` run what follows identity_review, character_instances included, once) and the gate's
    observation counts the assignments."""
    from animproc.review.labels import Review, save_review
    from animproc.storage import Storage
    from animproc_dagster.reviews import GATES, review_update

    st = Storage(tmp_path)
    gate = next(g for g in GATES if g.kind == "identities")
    decisions = {"faces": {"f0": "0"}, "clusters": {"0": {"name": "ava", "character": True}}}
    save_review(st, Review(FILM, "identities", submitted=True, decisions=decisions), 0)
    first = review_update(st, FILM, gate, None)
    save_review(st, Review(FILM, "identities", submitted=True, decisions={**decisions, "instances": {"a1": "0"}}), 1)
    second = review_update(st, FILM, gate, first.digest)
    assert second.version != first.version
    assert second.observation(st).metadata["instances_assigned"].value == 1
    assert first.observation(st).metadata["instances_assigned"].value == 0
