"""Seeded, bounded fuzzing of review files: a few thousand mutations of valid instance and identity reviews go
through the parser, the review server's save handler and the review sensor's evaluation. Each input must be
accepted with its documented meaning or refused with the project's error (ReviewFileError, VersionConflict);
nothing else may be raised."""
import copy
import json
import random
import re

import pytest

from animproc.films import path_component_problem
from animproc.review.labels import INSTANCE_CATEGORIES, Review, ReviewFileError, VersionConflict, parse_review
from animproc.review.labels import load_review, review_path
from animproc.review.schema import decode_json
from animproc.review.server import ReviewServer
from animproc.review.sources import identities_source, instances_source
from animproc_dagster.reviews import GATES, review_update
from review_helpers import fake_identities, fake_instances

SEED, CASES = 20, 4000

HOSTILE_VALUES = [True, False, None, 0, 1, -1, 1.0, 0.5, "", " ", "false", "0", "no", "true", [0], [], {}, [True],
                  {"keep": True}, "..", " ..", ".", "../../../../tmp/x", "a/b", "a\\b", "a\x00b", "\n", "é" * 200,
                  "x" * 300, "\ud800", "character", "object", "dragon", "noise", "0", "person", "auto",
                  2 ** 63, -(2 ** 63), 1e308, "animproc-review/1"]
RAW_VALUES = ["1" * 5000, "-" + "9" * 400, "NaN", "Infinity", "-Infinity", "1e999", "[" * 3000 + "]" * 3000,
              "{\"a\":" * 200 + "1" + "}" * 200, "\"\\ud800\"", "\"\\u0000\""]


def _seeds(faces: list[str], instances: list[str]) -> list[tuple[str, dict]]:
    base = {"format": "animproc-review/1", "film": "demo", "version": 0, "submitted": False, "decided_by": "person",
            "saved_at": None}
    inst = {**base, "kind": "instances", "decisions": {
        i: {"keep": k % 2 == 0, "category": INSTANCE_CATEGORIES[k % 3]} for k, i in enumerate(instances[:6])}}
    ident = {**base, "kind": "identities", "decisions": {
        "faces": {f: str(k % 3) for k, f in enumerate(faces[:8])},
        "clusters": {"0": {"name": "ava", "character": True}, "1": {"name": None, "character": True},
                     "2": {"name": "Bo Lee", "character": False}}}}
    return [("instances", inst), ("identities", ident)]


def _paths(doc, prefix=()):
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for k, v in enumerate(doc):
            yield from _paths(v, prefix + (k,))


def _mutate_tree(rng: random.Random, doc):
    doc = copy.deepcopy(doc)
    for _ in range(rng.randint(1, 3)):
        paths = [p for p in _paths(doc) if p]
        if not paths:
            return rng.choice(HOSTILE_VALUES)
        path = rng.choice(paths)
        parent = doc
        for step in path[:-1]:
            parent = parent[step]
        key, op = path[-1], rng.random()
        if op < 0.55:
            parent[key] = copy.deepcopy(rng.choice(HOSTILE_VALUES))
        elif op < 0.7 and isinstance(parent, dict):
            del parent[key]
        elif op < 0.85 and isinstance(parent, dict):
            parent[rng.choice([k for k in HOSTILE_VALUES if isinstance(k, str)])] = parent.pop(key)
        elif isinstance(parent, dict):
            parent[rng.choice(["extra", "keep", "category", "name", "character", "faces", "x"])] = \
                copy.deepcopy(rng.choice(HOSTILE_VALUES))
    return doc


def _mutate_text(rng: random.Random, text: str) -> bytes:
    data = bytearray(text.encode("utf-8", "surrogatepass"))
    op = rng.random()
    if op < 0.35:  # a raw literal where a value was
        spot = [m for m in range(len(data)) if data[m:m + 1] == b":"]
        k = rng.choice(spot) + 1
        end = next((j for j in range(k, len(data)) if data[j:j + 1] in (b",", b"}")), len(data))
        return bytes(data[:k]) + b" " + rng.choice(RAW_VALUES).encode() + bytes(data[end:])
    if op < 0.55:
        return bytes(data[:rng.randrange(len(data))])  # half-written
    for _ in range(rng.randint(1, 4)):
        k = rng.randrange(len(data))
        if rng.random() < 0.5:
            data[k] = rng.randrange(256)
        else:
            data.insert(k, rng.choice(b'{}[]":,\\0123456789tfn \x00\xff'))
    return bytes(data)


def _inputs(seeds):
    rng = random.Random(SEED)
    for n in range(CASES):
        kind, seed = seeds[n % 2]
        if rng.random() < 0.6:
            doc = _mutate_tree(rng, seed)
            data = json.dumps(doc, ensure_ascii=rng.random() < 0.5).encode("utf-8", "surrogatepass")
        else:
            data = _mutate_text(rng, json.dumps(seed, ensure_ascii=False))
        yield kind, data


def _check_meaning(review: Review, raw, kind: str) -> None:
    """What an accepted review must mean: the documented types, and exactly the values the file holds."""
    assert isinstance(review.version, int) and not isinstance(review.version, bool) and review.version >= 0
    assert review.version == raw["version"]
    assert review.submitted is (raw.get("submitted", False) is True)
    assert review.decided_by in ("person", "auto")
    if kind == "instances":
        for key, d in review.decisions.items():
            assert path_component_problem(key) is None
            assert d["keep"] is raw["decisions"][key]["keep"]
            assert d.get("category") in (*INSTANCE_CATEGORIES, None)
    else:
        assert set(review.decisions) == {"faces", "clusters"}
        for face, cluster in review.decisions["faces"].items():
            assert path_component_problem(face) is None and path_component_problem(cluster) is None
        for key, c in review.decisions["clusters"].items():
            assert path_component_problem(key) is None
            assert c.get("character", True) in (True, False)
            assert path_component_problem((c.get("name") or f"character_{key}").strip()) is None
    text = json.dumps(review.to_json(), allow_nan=False)  # strict JSON, as browsers need
    again = parse_review(text, "round trip", "demo", kind)
    assert (again.version, again.submitted, again.decisions, again.extra) == \
           (review.version, review.submitted, review.decisions, review.extra)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz") / "data"
    st, table = fake_instances(root)
    _, faces = fake_identities(root)
    server = ReviewServer(st, "demo", [instances_source(st, "demo"), identities_source(st, "demo")])
    yield st, server, _seeds(list(faces["face_id"]), list(table["instance_id"]))
    server.httpd.server_close()


def test_mutated_review_files_are_accepted_with_their_meaning_or_refused_by_the_parser(setup):
    _, _, seeds = setup
    outcomes = {"accepted": 0, "refused": 0}
    for kind, data in _inputs(seeds):
        try:
            review = parse_review(data, "fuzz.json", "demo", kind)
        except ReviewFileError:
            outcomes["refused"] += 1
            continue
        outcomes["accepted"] += 1
        _check_meaning(review, json.loads(data), kind)
    assert outcomes["accepted"] > CASES // 25 and outcomes["refused"] > CASES // 3, outcomes


def test_mutated_save_requests_are_saved_as_sent_or_refused_by_the_server(setup):
    st, server, seeds = setup
    saved = 0
    for n, (kind, data) in enumerate(_inputs(seeds)):
        if n % 2:  # every other input aims at the file's current version, so saves go through
            try:
                doc = json.loads(data)
                current = load_review(st, "demo", kind)
                if isinstance(doc, dict) and isinstance(doc.get("version"), int):
                    doc["version"] = current.version if current else 0
                    data = json.dumps(doc).encode()
            except (ValueError, RecursionError, ReviewFileError):
                pass
        try:
            body = decode_json(data, "request")  # what the handler does with the bytes it read
            result = server.save(kind, body)
        except (ReviewFileError, VersionConflict):
            continue
        saved += 1
        stored = load_review(st, "demo", kind)
        assert stored.version == result["version"] == body["version"] + 1
        assert stored.submitted is (body.get("submitted", False) is True)
        _check_meaning(stored, json.loads(review_path(st, "demo", kind).read_bytes()), kind)
    assert saved > 50, saved


def test_mutated_review_files_never_break_the_sensors_evaluation(setup):
    st, _, seeds = setup
    gates = {g.kind: g for g in GATES}
    reported = errors = 0
    for n, (kind, data) in enumerate(_inputs(seeds)):
        if n % 4 > 1:  # half the inputs, both kinds: each costs a file write
            continue
        path = review_path(st, "demo", kind)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        update = review_update(st, "demo", gates[kind], None)
        if update.error:
            assert not re.search(r"cannot be used \(\w+(Error|Exception)", update.error), update.error
            errors += 1
            continue
        _check_meaning(update.review, json.loads(data), kind)
        update.observation(st)
        reported += 1
    assert reported and errors
