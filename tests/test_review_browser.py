"""The instance review page in a real headless Chromium (Debian's, driven by Playwright), through to the
sensor and the instances_filtered run that follow."""
import json
import re
import shutil

import pytest
from dagster import build_sensor_context, instance_for_test

from animproc.library import store_source
from animproc.review.labels import load_review
from animproc.review.server import ReviewServer
from animproc.review.sources import instances_source
from animproc.storage import Storage
from animproc_dagster.definitions import build_defs
from animproc_dagster.sensors import review_sensor
from dagster_helpers import run_film
from resources.film_config import FilmConfigResource
from resources.shot_detector import ShotDetectorResource
from resources.storage import StorageResource

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not CHROMIUM, reason="Debian chromium is not installed")]


def test_keyboard_and_batch_review_in_chromium_drives_the_filtered_run(tmp_path, sample_film):
    """Keep and discard by keyboard, undo, shift-click a range and discard it as a batch, finish: the saved
    file holds exactly those decisions, the sensor reports instance_review and requests the gated job, and
    instances_filtered keeps exactly the reviewed characters."""
    from playwright.sync_api import expect, sync_playwright

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
        server = ReviewServer(st, "sample", instances_source(st, "sample"))
        server.start()
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
                page = browser.new_page()
                page.goto(server.url)
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
                expect(page.locator("#status")).to_have_text(re.compile("^submitted"))
                browser.close()
        finally:
            server.stop()
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
