"""Both review pages at the size of a 90-minute film (4,000 instances; 5,000 faces in 20 clusters), in headless
Chromium: they load, page, and answer a curator's keys quickly. The figures are printed (run with -s);
bench/review_pages.py repeats the measurement and is where the speed target is stated."""
import pytest

from animproc.review.server import ReviewServer
from animproc.review.sources import identities_source, instances_source
from review_helpers import (CHROMIUM, IDENTITY_KEYS, INSTANCE_KEYS, feature_film_reviews, measure_review_page,
                            review_page)

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not CHROMIUM, reason="Debian chromium is not installed")]

# The target is 50 ms a key (bench/review_pages.py measures 1 ms median, 25 ms at worst on an idle 2-core
# machine). On a shared, loaded machine the worst key can take a few times that, so the test holds the median
# to the target and the worst key to a bound that the old page (which re-rendered all 5,000 faces on every key,
# 0.5-1.6 s) could not meet.
MEDIAN_MS, WORST_MS = 50, 300


@pytest.fixture(scope="module")
def feature_server(tmp_path_factory):
    st = feature_film_reviews(tmp_path_factory.mktemp("feature"))
    server = ReviewServer(st, "feature", [instances_source(st, "feature"), identities_source(st, "feature")])
    server.start()
    yield st, server
    server.stop()


def test_the_identity_page_at_feature_size_shows_one_cluster_open_outliers_first_and_answers_keys_fast(feature_server):
    st, server = feature_server
    with review_page(st, "feature", [identities_source(st, "feature")], "identities/") as page:
        page.wait_for_selector(".face")
        assert page.locator(".cluster").count() == 21  # 20 clusters and noise, collapsed to a row each
        assert page.locator(".face").count() == 60  # one page of the open cluster
        shown = page.eval_on_selector_all(".face .d", "els => els.map(e => +e.textContent)")
        assert shown == sorted(shown, reverse=True) and shown[0] > shown[-1]
        assert page.locator(".pager").inner_text().startswith("faces 1-60 of ")
        page.keyboard.press("PageDown")
        assert page.locator(".pager").inner_text().startswith("faces 61-120 of ")
    figures = measure_review_page(server.url, "identities/", ".face", IDENTITY_KEYS)
    print(f"\nidentity page, 5,000 faces in 20 clusters: {figures}")
    assert figures["median_ms"] < MEDIAN_MS and figures["max_ms"] < WORST_MS, figures


def test_the_instance_page_at_feature_size_loads_and_answers_keys_fast(feature_server):
    st, server = feature_server
    with review_page(st, "feature", instances_source(st, "feature"), "instances/") as page:
        page.wait_for_selector(".card")
        assert page.locator(".card").count() == 120
        assert page.locator("#n-total").inner_text() == "4000"
    figures = measure_review_page(server.url, "instances/", ".card", INSTANCE_KEYS)
    print(f"\ninstance page, 4,000 instances: {figures}")
    assert figures["median_ms"] < MEDIAN_MS and figures["max_ms"] < WORST_MS, figures
