"""Benchmark of the review pages at the size of a 90-minute film, in headless Chromium (Debian's chromium,
driven by Playwright): 4,000 instances, and 5,000 faces in 20 clusters (synthetic, tests/review_helpers.py).

For each page: the server's item build time, the page's load time (navigation until the first items and the
status show), and the cost of each key of a curator's sequence (moving, selecting, deciding, merging,
splitting, moving to noise, undo, redo), measured in the page: the key event is dispatched and layout forced
before the clock stops. Target: under 50 ms a key on the identity page.

Usage: python bench/review_pages.py [--repeat 3]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from animproc.review.server import ReviewServer  # noqa: E402
from animproc.review.sources import identities_source, instances_source  # noqa: E402
from review_helpers import IDENTITY_KEYS, INSTANCE_KEYS, feature_film_reviews, measure_review_page  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        st = feature_film_reviews(Path(tmp))
        for kind, source, ready, keys in [("instances", instances_source, ".card", INSTANCE_KEYS),
                                          ("identities", identities_source, ".face", IDENTITY_KEYS)]:
            started = time.perf_counter()
            server = ReviewServer(st, "feature", [source(st, "feature")])
            build = time.perf_counter() - started
            server.start()
            try:
                for k in range(args.repeat):
                    f = measure_review_page(server.url, f"{kind}/", ready, keys)
                    print(f"{kind:10s} run {k + 1}: items {build:.2f} s, load {f['load_s']:.2f} s, {f['keys']} keys: "
                          f"median {f['median_ms']:.1f} ms, p95 {f['p95_ms']:.1f} ms, max {f['max_ms']:.1f} ms "
                          f"(slowest {', '.join(f'{k!r} {t:.0f}' for k, t in f['slowest'])})")
            finally:
                server.stop()


if __name__ == "__main__":
    main()
