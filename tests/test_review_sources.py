"""What the review server answers a page: strict JSON (browsers refuse NaN), read from a film's assets."""
import json
import urllib.request

from animproc.review.server import ReviewServer
from animproc.review.sources import identities_source
from review_helpers import fake_identities


def _strict(text: str):
    def refuse(constant):
        raise ValueError(f"not JSON: {constant}")
    return json.loads(text, parse_constant=refuse)


def test_faces_that_belong_to_no_instance_are_answered_as_strict_json_with_a_null_instance(tmp_path):
    """Faces on interval-sampled frames have no instance (pandas reads the null as NaN): the identity page's
    `api/all` must still parse as strict JSON, with `instance_id: null` for them."""
    st, _ = fake_identities(tmp_path / "data", unowned=3)
    server = ReviewServer(st, "demo", [identities_source(st, "demo")])
    server.start()
    try:
        with urllib.request.urlopen(server.url_for("identities") + "api/all") as answer:
            items = _strict(answer.read().decode())["items"]
    finally:
        server.stop()
    unowned = [f for f in items if f["instance_id"] is None]
    assert [f["id"] for f in unowned] == ["0000014_f00", "0000015_f00", "0000016_f00"]
    assert all(f["frame"] == f["crop"] for f in unowned)
    assert all(isinstance(f["instance_id"], str) for f in items if f not in unowned)


def test_a_source_that_lets_nan_through_is_answered_as_a_server_error_not_as_invalid_json(tmp_path):
    from animproc.review.server import ReviewSource
    import urllib.error

    st, _ = fake_identities(tmp_path / "data")
    source = ReviewSource("identities", "broken", lambda: [{"id": "a", "score": float("nan")}])
    server = ReviewServer(st, "demo", [source])
    server.start()
    try:
        try:
            urllib.request.urlopen(server.url_for("identities") + "api/all")
            raise AssertionError("a NaN item was answered as 200")
        except urllib.error.HTTPError as err:
            assert err.code == 500
            assert "not strict JSON" in _strict(err.read().decode())["error"]
    finally:
        server.stop()
