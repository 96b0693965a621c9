"""The review gate's file format and the local review server's HTTP contract and security."""
import json
import urllib.error
import urllib.request

import pytest

from animproc.instances.filtering import apply_instance_review
from animproc.review.labels import (Review, ReviewFileError, VersionConflict, auto_instance_review, load_review,
                                    parse_review, review_path, save_review)
from animproc.review.server import ReviewServer
from animproc.review.sources import instances_source
from review_helpers import fake_instances


def test_saves_are_versioned_and_a_stale_writer_is_refused(tmp_path):
    """Each save writes version+1; a writer that read an older version gets a conflict, not an overwrite."""
    st, _ = fake_instances(tmp_path)
    first = save_review(st, Review("demo", "instances", decisions={"000000_00": {"keep": True}}), 0)
    assert first.version == 1
    save_review(st, Review("demo", "instances", decisions={"000000_00": {"keep": False}}), 1)
    with pytest.raises(VersionConflict):
        save_review(st, Review("demo", "instances", decisions={}), 1)
    assert load_review(st, "demo", "instances").decisions == {"000000_00": {"keep": False}}
    assert not [p for p in review_path(st, "demo", "instances").parent.iterdir() if p.suffix == ".part"]


def test_auto_review_replaces_a_broken_file_and_follows_a_good_ones_version(tmp_path):
    from animproc.review.labels import write_auto_review

    st, table = fake_instances(tmp_path)
    path = review_path(st, "demo", "instances")
    path.parent.mkdir(parents=True)
    path.write_text('{"format": "animproc-rev')
    auto = auto_instance_review("demo", dict(zip(table["instance_id"], table["category"])))
    assert write_auto_review(st, auto) == 1
    assert write_auto_review(st, auto_instance_review("demo", {})) == 2
    assert load_review(st, "demo", "instances").decided_by == "auto"


@pytest.mark.parametrize("text, problem", [
    ('{"format": "animproc-review/1", "film": "demo", "kind": "instances", "version": 2, "decis', "not valid JSON"),
    ('[]', "not an animproc review file"),
    ('{"format": "animproc-review/1", "film": "other", "kind": "instances", "version": 1, "decisions": {}}',
     "film 'other'"),
    ('{"format": "animproc-review/1", "film": "demo", "kind": "instances", "version": -1, "decisions": {}}',
     "non-negative integer"),
    ('{"format": "animproc-review/1", "film": "demo", "kind": "instances", "version": 1, "decisions": {"a": {}}}',
     "'keep' must be true or false"),
    ('{"format": "animproc-review/1", "film": "demo", "kind": "instances", "version": 1, '
     '"decisions": {"a": {"keep": true, "category": "dragon"}}}', "unknown category 'dragon'"),
])
def test_malformed_review_files_are_refused_with_the_problem(text, problem):
    with pytest.raises(ReviewFileError, match=problem) as err:
        parse_review(text, "/data/demo/reviews/instances.json", "demo", "instances")
    assert "/data/demo/reviews/instances.json" in str(err.value)


def test_applying_a_review_keeps_reviewed_characters_and_decides_pending_by_prediction(tmp_path):
    _, table = fake_instances(tmp_path)
    review = Review("demo", "instances", submitted=True, decisions={
        "000000_00": {"keep": False, "category": "character"},  # a predicted character, discarded
        "000000_01": {"keep": True, "category": "character"},  # a predicted object, recategorised and kept
        "000001_00": {"keep": True, "category": "background"},  # kept but not a character: not passed on
        "gone_00": {"keep": True}})
    decided, stats = apply_instance_review(table, review)
    kept = set(decided.loc[decided["kept"], "instance_id"])
    predicted = set(table.loc[table["category"] == "character", "instance_id"])
    assert kept == (predicted - {"000000_00", "000001_00"}) | {"000000_01"}
    assert stats["decided_by"] == {"prediction": 9, "person": 3} and stats["recategorised"] == 2
    assert stats["decisions_for_unknown_instances"] == 1
    auto, _ = apply_instance_review(table, auto_instance_review("demo", dict(zip(table["instance_id"], table["category"]))))
    assert set(auto.loc[auto["kept"], "instance_id"]) == predicted and set(auto["decided_by"]) == {"auto"}


@pytest.fixture
def server(tmp_path):
    st, table = fake_instances(tmp_path / "data")
    (tmp_path / "data" / "secret.png").write_bytes(b"outside the film")
    srv = ReviewServer(st, "demo", instances_source(st, "demo"))
    srv.start()
    yield srv, st, table
    srv.stop()


def _request(srv, path, body=None, headers=None, method=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(srv.url.rstrip("/") + path, data=data, method=method or ("POST" if data else "GET"))
    if data is not None:
        req.add_header("Content-Type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_server_pages_items_and_serves_only_film_images(server):
    """Items come in pages; images are served only from inside the film's storage folder."""
    srv, st, table = server
    status, body = _request(srv, "/instances/api/items?offset=10&limit=5")
    page = json.loads(body)
    assert status == 200 and page["total"] == len(table) and [i["id"] for i in page["items"]] == list(table["instance_id"][10:12])
    status, body = _request(srv, "/media/" + page["items"][0]["cutout"])
    assert status == 200 and body.startswith(b"\x89PNG")
    for bad in ["/media/../secret.png", "/media/%2e%2e/secret.png", "/media/instances/instances.parquet",
                "/media/..%2fsecret.png", "/media//etc/passwd.png"]:
        assert _request(srv, bad)[0] == 404, bad
    status, body = _request(srv, "/instances/")
    assert status == 200 and srv.token.encode() in body
    assert _request(srv, "/identities/api/all")[0] == 404  # only the gates given to the server


def test_server_saves_with_the_token_and_refuses_cross_origin_and_stale_writes(server):
    srv, st, _ = server
    token = {"X-Review-Token": srv.token}
    decisions = {"000000_00": {"keep": False, "category": "character"}}
    assert _request(srv, "/instances/api/save", {"version": 0, "decisions": decisions})[0] == 403  # no token
    assert _request(srv, "/instances/api/save", {"version": 0, "decisions": decisions},
                    {**token, "Origin": "http://evil.example"})[0] == 403
    assert _request(srv, "/instances/api/save", {"version": 0, "decisions": decisions},
                    {**token, "Sec-Fetch-Site": "cross-site"})[0] == 403
    assert _request(srv, "/instances/api/save", {"version": 0, "decisions": decisions}, {**token, "Host": "attacker:80"})[0] == 403
    assert load_review(st, "demo", "instances") is None
    status, body = _request(srv, "/instances/api/save", {"version": 0, "decisions": decisions}, {**token, "Origin": srv.url.rstrip("/")})
    assert status == 200 and json.loads(body)["version"] == 1
    status, body = _request(srv, "/instances/api/save", {"version": 0, "decisions": {}}, token)
    assert status == 409 and json.loads(body)["version"] == 1
    status, body = _request(srv, "/instances/api/save", {"version": 1, "decisions": {"nope_00": {"keep": True}}}, token)
    assert status == 400 and b"unknown instance ids" in body
    assert _request(srv, "/instances/api/save", {"version": 1, "decisions": {"000000_00": {"keep": "yes"}}}, token)[0] == 400
    saved = load_review(st, "demo", "instances")
    assert saved.version == 1 and saved.decisions == decisions and not saved.submitted
