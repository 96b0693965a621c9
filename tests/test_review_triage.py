"""The review pages' triage tools in headless Chromium: categories that keep, a finish that says what it hands
on, filters, sort, jump, a batch rule that undo reverts, progress, and the lightbox on both pages."""
import re

import pytest

from animproc.review.labels import load_review
from animproc.review.sources import identities_source, instances_source
from review_helpers import CHROMIUM, fake_identities, fake_instances, review_page

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not CHROMIUM, reason="Debian chromium is not installed")]


def _varied_instances(root):
    """12 instances in 3 shots of 4 (two frames of two each), scores 0.30, 0.35, ... 0.85 in film order."""
    st, table = fake_instances(root)
    table["shot_id"] = [k // 4 for k in range(len(table))]
    table["category_score"] = [round(0.3 + 0.05 * k, 2) for k in range(len(table))]
    table["time"] = [k * 2.0 for k in range(len(table))]
    st.write_parquet(st.asset_dir("demo", "instances") / "instances.parquet", table)
    return st, table


def test_choosing_character_keeps_a_predicted_background_and_no_longer_shows_its_score(tmp_path):
    from playwright.sync_api import expect

    st, table = fake_instances(tmp_path / "data")
    background = table.index[table["category"] == "background"][0]
    iid = table.loc[background, "instance_id"]
    with review_page(st, "demo", instances_source(st, "demo"), "instances/") as page:
        page.wait_for_selector(".card")
        card = page.locator(f'.card[data-id="{iid}"]')
        card.click()
        page.keyboard.press("1")
        assert "kept" in card.get_attribute("class")
        assert card.locator(".tag").inner_text() == "character"
        assert card.locator(".score").inner_text() == "set (was background 0.70)"
        expect(page.locator("#status")).to_have_text(re.compile("^saved"))
        assert load_review(st, "demo", "instances").decisions[iid] == {"keep": True, "category": "character"}
        page.keyboard.press("d")  # a discard after the category still wins
        assert "discarded" in card.get_attribute("class")
        page.keyboard.press("3")  # the next, a predicted character, set to background is discarded
        expect(page.locator("#status")).to_have_text(re.compile("^saved"))
    decisions = load_review(st, "demo", "instances").decisions
    assert decisions[iid] == {"keep": False, "category": "character"}
    assert decisions[table.loc[background + 1, "instance_id"]] == {"keep": False, "category": "background"}


def test_finish_shows_what_the_prediction_will_decide_and_asks_once(tmp_path):
    from playwright.sync_api import expect

    st, table = fake_instances(tmp_path / "data")
    with review_page(st, "demo", instances_source(st, "demo"), "instances/") as page:
        page.wait_for_selector(".card")
        page.locator(".card").first.click()
        page.keyboard.press("k")
        expect(page.locator("#status")).to_have_text(re.compile("^saved"))
        page.locator("#finish").click()
        text = page.locator("#confirm-text").inner_text()
        predicted = (table["category"] == "character").sum() - 1
        assert f"kept 1, discarded 0, pending 11 (the prediction decides them: {predicted} predicted characters " \
               f"kept, {11 - predicted} discarded)" in text
        page.keyboard.press("Escape")  # back: nothing submitted
        assert page.locator("#confirm").is_hidden()
        assert not load_review(st, "demo", "instances").submitted
        page.locator("#finish").click()
        page.keyboard.press("Enter")
        expect(page.locator("#status")).to_have_text(re.compile("^submitted"))
    assert load_review(st, "demo", "instances").submitted


def test_filters_sort_jump_and_a_batch_rule_that_undo_reverts(tmp_path):
    from playwright.sync_api import expect

    st, table = _varied_instances(tmp_path / "data")
    with review_page(st, "demo", instances_source(st, "demo"), "instances/") as page:
        page.wait_for_selector(".card")
        ids = lambda: [page.locator(".card").nth(i).get_attribute("data-id") for i in range(page.locator(".card").count())]
        assert page.locator("#n-decided").inner_text() == "0" and page.locator("#n-total").inner_text() == "12"
        page.locator("#f-category").select_option("character")
        page.locator("#f-min").fill("0.5")
        page.locator("#f-min").dispatch_event("change")
        chars = table[(table["category"] == "character") & (table["category_score"] >= 0.5)]
        assert ids() == list(chars["instance_id"])
        page.locator("#sort").select_option("uncertain")
        assert ids() == list(chars.sort_values("category_score")["instance_id"])
        page.locator("#f-category").select_option("")
        page.locator("#f-min").fill("")
        page.locator("#f-min").dispatch_event("change")
        page.locator("#sort").select_option("film")
        page.locator("#f-shot").select_option("1")
        assert ids() == list(table.loc[table["shot_id"] == 1, "instance_id"])
        page.locator("#f-shot").select_option("")
        page.locator("header strong").click()  # keys go to the grid again, not to the filter
        page.keyboard.press("g")
        page.keyboard.type("0:15")  # the first instance at or after 15 s: the 9th (16 s)
        page.keyboard.press("Enter")
        assert page.locator(".card.focused").get_attribute("data-id") == table["instance_id"][8]
        page.keyboard.press("g")
        page.keyboard.type("s1")
        page.keyboard.press("Enter")
        assert page.locator(".card.focused").get_attribute("data-id") == table["instance_id"][4]
        page.keyboard.press("d")  # a person's decision in shot 1: the rule leaves it alone
        page.locator("#r-score").fill("0.3")
        page.locator("#apply-rule").click()  # keep every pending character at or above 0.3 in shot 1
        shot1 = table[(table["shot_id"] == 1) & (table["category"] == "character")]["instance_id"].tolist()
        expect(page.locator("#status")).to_contain_text(f"kept {len([i for i in shot1 if i != table['instance_id'][4]])} pending character")
        assert page.locator("#n-decided").inner_text() == str(len(set(shot1) | {table["instance_id"][4]}))
        page.locator("#r-scope").select_option("film")
        page.locator("#r-score").fill("0.8")
        page.locator("#apply-rule").click()
        page.keyboard.press("z")  # undo reverts the whole film rule
        page.locator("#f-decision").select_option("kept")
        expect(page.locator("#status")).to_have_text(re.compile("^saved"))
        assert sorted(ids()) == sorted(i for i in shot1 if i != table["instance_id"][4])
    decisions = load_review(st, "demo", "instances").decisions
    assert {k for k, d in decisions.items() if d["keep"]} == set(shot1) - {table["instance_id"][4]}
    assert decisions[table["instance_id"][4]]["keep"] is False


def test_lightbox_shows_the_item_over_its_frame_and_walks_its_track_on_both_pages(tmp_path):
    from playwright.sync_api import expect

    st, table = fake_instances(tmp_path / "data")
    with review_page(st, "demo", instances_source(st, "demo"), "instances/") as page:
        page.wait_for_selector(".card")
        page.locator(".card").first.click()
        page.keyboard.press("f")
        box = page.locator("#lightbox")
        assert box.is_visible() and box.get_attribute("data-id") == "000000_00"
        assert "shot 0, 0 s (frame 0)" in page.locator(".lb-caption").inner_text()
        expect(page.locator(".lb-box")).to_be_visible()  # drawn once the frame has loaded
        page.keyboard.press("ArrowRight")  # the same figure in the next sampled frame, not the other one beside it
        assert box.get_attribute("data-id") == "000001_00"
        page.keyboard.press("k")  # the page under the lightbox takes no keys
        page.keyboard.press("Escape")
        assert box.is_hidden() and page.locator("#n-kept").inner_text() == "0"

    st, _ = fake_identities(tmp_path / "faces", embedded=True)
    with review_page(st, "demo", [identities_source(st, "demo")], "identities/") as page:
        page.wait_for_selector(".face")
        page.keyboard.press("f")
        assert page.locator("#lightbox").get_attribute("data-id") == "0000003_f00"
        assert "distance to the medoid" in page.locator(".lb-caption").inner_text()
        page.keyboard.press("f")
        assert page.locator("#lightbox").is_hidden()


def test_shift_arrows_select_faces_from_the_focused_one_on(tmp_path):
    st, _ = fake_identities(tmp_path / "data", embedded=True)
    with review_page(st, "demo", [identities_source(st, "demo")], "identities/") as page:
        page.wait_for_selector(".face")
        page.keyboard.press("Shift+ArrowRight")
        page.keyboard.press("Shift+ArrowRight")
        assert page.locator("#n-selected").inner_text() == "3"
        assert page.eval_on_selector_all(".face.selected", "els => els.map(e => e.dataset.id)") == [
            "0000003_f00", "0000002_f00", "0000001_f00"]
