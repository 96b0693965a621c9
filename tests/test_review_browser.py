"""The instance review page in a real headless Chromium (Debian's, driven by Playwright), through to the
sensor and the instances_filtered run that follow."""
import json
import re

import pytest
from dagster import build_sensor_context, instance_for_test

from animproc.library import store_source
from animproc.review.labels import load_review
from animproc.review.sources import instances_source
from animproc.storage import Storage
from animproc_dagster.definitions import build_defs
from animproc_dagster.sensors import review_sensor
from dagster_helpers import run_film
from review_helpers import CHROMIUM, review_page
from resources.film_config import FilmConfigResource
from resources.shot_detector import ShotDetectorResource
from resources.storage import StorageResource

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not CHROMIUM, reason="Debian chromium is not installed")]


def test_keyboard_and_batch_review_in_chromium_drives_the_filtered_run(tmp_path, sample_film):
    """Keep and discard by keyboard, undo, shift-click a range and discard it as a batch, finish: the saved
    file holds exactly those decisions, the sensor reports instance_review and requests the gated job, and
    instances_filtered keeps exactly the reviewed characters."""
    from playwright.sync_api import expect

    root = tmp_path / "data"
    st = Storage(root)
    store_source(st, "sample", sample_film[0])
    storage = StorageResource(root=str(root))
    defs = build_defs(storage, FilmConfigResource(config_dir=str(tmp_path / "configs")), ShotDetectorResource(backend="default"))
    with instance_for_test() as inst:
        assert run_film(defs, inst, "sample").success
        table = st.read_parquet(st.asset_dir("sample", "instances") / "instances.parquet")
        ids = list(table["instance_id"])
        assert len(ids) >= 6
        with review_page(st, "sample", instances_source(st, "sample"), "") as page:  # the root leads to the gate
            page.wait_for_selector(".card")
            assert page.locator(".card").count() == len(ids)
            page.locator(".card").first.click()
            for key in ["k", "d", "d", "z"]:  # keep 0, discard 1, discard 2, undo the last
                page.keyboard.press(key)
            cards = page.locator(".card")
            cards.nth(3).click()
            cards.nth(5).click(modifiers=["Shift"])
            assert page.locator("#n-selected").inner_text() == "3"
            page.locator("#discard").click()
            expect(page.locator("#status")).to_have_text(re.compile("^saved"))
            assert page.locator("#n-kept").inner_text() == "1"
            assert page.locator("#n-discarded").inner_text() == "4"
            assert page.locator("#n-pending").inner_text() == str(len(ids) - 5)
            assert "kept" in cards.nth(0).get_attribute("class")
            assert "pending" in cards.nth(2).get_attribute("class")
            page.locator("#finish").click()
            page.locator("#confirm-yes").click()
            expect(page.locator("#status")).to_have_text(re.compile("^submitted"))
        review = load_review(st, "sample", "instances")
        assert review.submitted and review.decided_by == "person"
        assert {k: d["keep"] for k, d in review.decisions.items()} == {
            ids[0]: True, ids[1]: False, ids[3]: False, ids[4]: False, ids[5]: False}

        context = build_sensor_context(instance=inst, resources={"storage": storage})
        result = review_sensor(context)
        assert [(r.job_name, r.partition_key) for r in result.run_requests] == [("instances_reviewed", "sample")]
        assert [e.asset_key.to_user_string() for e in result.asset_events] == ["instance_review"]
        again = review_sensor(build_sensor_context(instance=inst, cursor=result.cursor, resources={"storage": storage}))
        assert not again.run_requests

        assert defs.resolve_job_def("instances_reviewed").execute_in_process(instance=inst, partition_key="sample").success
        kept = st.read_parquet(st.asset_dir("sample", "instances_filtered") / "instances.parquet")
        predicted = dict(zip(table["instance_id"], table["category"]))
        decided = review.decisions
        expected = {i for i in ids if (decided[i]["keep"] and decided[i]["category"] == "character" if i in decided
                                       else predicted[i] == "character")}
        assert set(kept["instance_id"]) == expected
        stats = json.loads((root / "sample" / "instances_filtered" / "decisions.json").read_text())["statistics"]
        assert stats["decided_by"]["person"] == 5


def test_identity_review_in_chromium_renames_merges_splits_moves_and_undoes(tmp_path):
    """Rename a cluster, merge two, split faces into a new cluster, move a face to noise, undo a move: the
    saved file holds exactly that, and `characters` puts each instance where the review said."""
    from dagster import AssetSelection
    from playwright.sync_api import expect

    from animproc.review.sources import identities_source
    from animproc_dagster.reviews import REVIEW_READERS
    from partitions import add_film
    from review_helpers import fake_identities

    root = tmp_path / "data"
    st, faces = fake_identities(root)
    with review_page(st, "demo", [identities_source(st, "demo")], "identities/") as page:
        page.wait_for_selector(".cluster")
        rows = page.locator(".cluster")
        assert rows.count() == 4  # three clusters and noise
        assert page.locator(".face").count() == 4  # only the focused cluster is open
        page.locator("#name").fill("sintel")
        page.locator("#name").press("Enter")
        page.keyboard.press("ArrowDown")
        page.keyboard.press("c")  # select cluster 1
        page.keyboard.press("ArrowDown")
        page.keyboard.press("c")  # select cluster 2
        page.keyboard.press("m")  # merge 2 into 1
        assert page.locator(".cluster").count() == 3
        page.locator('.cluster[data-key="0"] .head').click()
        page.locator('.face[data-id="0000002_f00"]').click()
        page.locator('.face[data-id="0000003_f00"]').click()
        page.locator("#split").click()  # faces 2 and 3 leave "sintel" for a new cluster
        page.locator('.cluster[data-key="1"] .head').click()
        page.locator('.face[data-id="0000005_f00"]').click()
        page.locator("#target").select_option("noise")
        page.locator("#move").click()
        page.locator('.face[data-id="0000006_f00"]').click()
        page.locator("#move").click()
        page.keyboard.press("z")  # undo moving face 6
        expect(page.locator("#status")).to_have_text(re.compile("^saved"))
        assert page.locator("#n-noise").inner_text() == "3"
        page.locator("#finish").click()
        page.locator("#confirm-yes").click()
        expect(page.locator("#status")).to_have_text(re.compile("^submitted"))
    review = load_review(st, "demo", "identities")
    assert review.submitted
    f = review.decisions["faces"]
    assert [f[f"{k:07d}_f00"] for k in range(4)] == ["0", "0", "new1", "new1"]
    assert f["0000005_f00"] == "noise" and f["0000006_f00"] == "1"
    assert all(f[f"{k:07d}_f00"] == "1" for k in (4, 7, 8, 9, 10, 11))
    assert review.decisions["clusters"]["0"]["name"] == "sintel" and "2" not in review.decisions["clusters"]

    defs = build_defs(StorageResource(root=str(root)), FilmConfigResource(config_dir=str(tmp_path / "configs")))
    with instance_for_test() as inst:
        add_film(inst, "demo")
        job = defs.resolve_job_def("identities_reviewed")  # the demo film has no video: leave out the temporal
        graph = defs.resolve_asset_graph()  # assets and what reads them (the multimodal ones)
        need_video = AssetSelection.assets(*REVIEW_READERS).downstream().resolve(graph)
        keys = [k for k in job.asset_layer.executable_asset_keys if k not in need_video]
        assert job.execute_in_process(instance=inst, partition_key="demo", asset_selection=keys).success
    index = st.read_parquet(st.asset_dir("demo", "characters") / "index.parquet")
    instances = index[index["kind"] == "instance"].groupby("character")["id"].apply(set).to_dict()
    assert instances == {"sintel": {"0000000_00", "0000001_00"}, "character_new1": {"0000002_00", "0000003_00"},
                         "character_1": {f"{k:07d}_00" for k in (4, 6, 7, 8, 9, 10, 11)}}
    assert (root / "demo" / "characters" / "sintel" / "faces" / "0000000_f00.jpg").exists()
    assert "moved by a person" in index.loc[index["id"] == "0000002_f00", "decision"].item()
    poses = st.read_parquet(st.asset_dir("demo", "pose_subclusters") / "poses.parquet")
    assert set(poses["instance_id"]) == set(index.loc[index["kind"] == "instance", "id"])
    assert set(poses["bucket"]) <= {"front", "three_quarter", "profile"}


def test_an_edit_after_finishing_reopens_the_review(tmp_path):
    """Autosave after *Finish review* saves the review as not finished, so the sensor waits for the next finish."""
    from playwright.sync_api import expect

    from review_helpers import fake_instances

    st, _ = fake_instances(tmp_path / "data")
    with review_page(st, "demo", instances_source(st, "demo"), "instances/") as page:
        page.wait_for_selector(".card")
        page.locator("#finish").click()
        page.locator("#confirm-yes").click()
        expect(page.locator("#status")).to_have_text(re.compile("^submitted"))
        assert load_review(st, "demo", "instances").submitted
        page.locator(".card").first.click()
        page.keyboard.press("d")
        expect(page.locator("#status")).to_have_text(re.compile("^saved"))
        assert not load_review(st, "demo", "instances").submitted
        page.locator("#finish").click()
        page.locator("#confirm-yes").click()
        expect(page.locator("#status")).to_have_text(re.compile("^submitted"))
    review = load_review(st, "demo", "instances")
    assert review.submitted and review.version == 3


def test_the_identity_page_loads_when_faces_belong_to_no_instance(tmp_path):
    """Faces found on interval-sampled frames have no instance: the page still loads and shows them."""
    from animproc.review.sources import identities_source
    from review_helpers import fake_identities

    st, _ = fake_identities(tmp_path / "data", unowned=3)
    with review_page(st, "demo", [identities_source(st, "demo")], "identities/") as page:
        page.wait_for_selector(".cluster", timeout=10000)
        assert page.locator("#n-clustered").inner_text() == "15"


def test_identity_review_by_keyboard_alone_with_outliers_first_and_a_named_merge(tmp_path):
    """Rename (r), merge (c, c, m; the dropped name is said), split (space, s), move (v, choose, Enter; Delete
    to noise), undo and redo (z, Ctrl+Y), a refused duplicate name: keys only. The open cluster shows its faces
    farthest from the medoid first."""
    from playwright.sync_api import expect

    from animproc.review.sources import identities_source
    from review_helpers import fake_identities

    st, _ = fake_identities(tmp_path / "data", embedded=True)
    with review_page(st, "demo", [identities_source(st, "demo")], "identities/") as page:
        page.wait_for_selector(".cluster")
        keys = page.keyboard
        assert [page.locator(".face").nth(i).get_attribute("data-id") for i in range(4)] == [
            "0000003_f00", "0000002_f00", "0000001_f00", "0000000_f00"]  # the outlier first, the medoid last
        for name, down in [("anna", 0), ("bob", 1), ("carl", 1)]:
            for _ in range(down):
                keys.press("ArrowDown")
            keys.press("r")
            keys.type(name)
            keys.press("Enter")
        expect(page.locator('.cluster[data-key="2"] .label')).to_have_text("2: carl")
        keys.press("k")
        keys.press("c")  # bob
        keys.press("j")
        keys.press("c")  # carl
        keys.press("m")
        expect(page.locator("#status")).to_contain_text('dropped the name "carl"')
        assert page.locator('.cluster[data-key="1"] .size').inner_text() == "8 faces"
        keys.press("r")
        keys.type("anna")
        keys.press("Enter")  # already cluster 0's name: refused, not left on the page
        expect(page.locator("#status")).to_contain_text('"anna" is already cluster 0')
        assert page.locator("#name").input_value() == "bob"
        keys.press("j")  # cluster 0 (anna) comes after the merged one
        assert page.locator(".cluster.focused").get_attribute("data-key") == "0"
        keys.press(" ")
        keys.press("ArrowRight")
        keys.press(" ")  # faces 3 and 2, the two outliers
        keys.press("s")
        expect(page.locator('.cluster[data-key="new1"]')).to_have_count(1)
        keys.press("k")  # back to the merged cluster 1
        keys.press(" ")
        keys.press("v")
        for _ in range(3):  # 1, 0, new1, noise
            keys.press("ArrowDown")
        keys.press("Enter")
        expect(page.locator("#status")).to_contain_text("to noise")
        keys.press(" ")
        keys.press("Delete")
        assert page.locator("#n-noise").inner_text() == "4"
        keys.press("z")
        assert page.locator("#n-noise").inner_text() == "3"
        keys.press("Control+y")
        assert page.locator("#n-noise").inner_text() == "4"
        keys.press("z")
        expect(page.locator("#status")).to_have_text(re.compile("^saved"))
    review = load_review(st, "demo", "identities")
    f, c = review.decisions["faces"], review.decisions["clusters"]
    assert [c[k]["name"] for k in ("0", "1")] == ["anna", "bob"] and "2" not in c
    assert f["0000003_f00"] == f["0000002_f00"] == "new1" and f["0000001_f00"] == f["0000000_f00"] == "0"
    assert sorted(k for k, v in f.items() if v == "noise") == ["0000007_f00", "0000012_f00", "0000013_f00"]
    assert all(f[f"{k:07d}_f00"] == "1" for k in (4, 5, 6, 8, 9, 10, 11))


def test_a_gate_without_anything_to_review_at_start_is_served_once_it_has(tmp_path):
    """The server started before the clusters existed: /identities/ says what to materialise, and shows the
    clusters on the next load once they are there, without a restart."""
    from playwright.sync_api import expect

    from animproc.review.sources import identities_source
    from review_helpers import fake_identities, fake_instances

    st, _ = fake_instances(tmp_path / "data")
    with review_page(st, "demo", [instances_source(st, "demo"), identities_source(st, "demo")], "identities/") as page:
        expect(page.locator("#status")).to_contain_text("materialise `identity_clusters` first (then reload this page)")
        fake_identities(tmp_path / "data")
        page.reload()
        page.wait_for_selector(".cluster")
        assert page.locator(".cluster").count() == 4


def test_a_refused_save_returns_the_page_to_the_saved_state(tmp_path):
    """Two clusters may share a name only while one is not a character; making it one again is refused by the
    server, and the page then shows what the file holds, not the refused change."""
    from playwright.sync_api import expect

    from animproc.review.sources import identities_source
    from review_helpers import fake_identities

    st, _ = fake_identities(tmp_path / "data")
    with review_page(st, "demo", [identities_source(st, "demo")], "identities/") as page:
        page.wait_for_selector(".cluster")
        keys = page.keyboard
        keys.press("r")
        keys.type("anna")
        keys.press("Enter")
        keys.press("x")  # cluster 0 is not a character
        keys.press("j")
        keys.press("r")
        keys.type("anna")
        keys.press("Enter")  # allowed: the other "anna" is not a character
        expect(page.locator("#status")).to_have_text(re.compile("^saved"))
        keys.press("k")
        keys.press("x")  # two characters named anna: the server refuses
        expect(page.locator("#status")).to_contain_text("not saved")
        expect(page.locator("#status")).to_contain_text("back to the saved version")
        assert "not-character" in page.locator('.cluster[data-key="0"]').get_attribute("class")
        assert page.locator("#n-clusters").inner_text() == "2"
    clusters = load_review(st, "demo", "identities").decisions["clusters"]
    assert clusters["0"] == {"name": "anna", "character": False} and clusters["1"]["name"] == "anna"
