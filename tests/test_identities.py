"""Identity core: clustering, scores, tracks, and the insightface backend with random-weight ONNX models."""
import numpy as np
import pandas as pd
import pytest

from animproc.config import FilmConfig
from animproc.errors import ModelError
from animproc.models import FaceAnalyzer, FaceDetector
from animproc.identity.cluster import NOISE, cluster_embeddings, nearest_medoid
from animproc.identity.evaluate import identity_scores
from animproc.identity.images import load_reference, score_assignment
from animproc.identity.tracks import clustering_vectors, costume_histogram, link_tracks
from onnx_helpers import write_random_buffalo_pack


def _identities(n_ids: int, per_id: int, dim: int = 512, spread: float = 0.35, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_ids, dim))
    x = np.repeat(centres, per_id, axis=0) + spread * rng.normal(size=(n_ids * per_id, dim)) * np.sqrt(1 / dim) * 10
    return x / np.linalg.norm(x, axis=1, keepdims=True), np.repeat(np.arange(n_ids), per_id)


def test_hdbscan_recovers_synthetic_identities_and_keeps_noise_apart():
    """Eight identities of 512-d unit vectors come back as eight pure clusters after the PCA reduction;
    faces like no one stay noise (after PCA they crowd near the origin and would form a cluster of their own
    without the full-space check); medoids and intra-cluster similarity are reported."""
    x, truth = _identities(8, 40)
    outliers = np.random.default_rng(1).normal(size=(60, 512))
    x = np.vstack([x, outliers / np.linalg.norm(outliers, axis=1, keepdims=True)])
    result = cluster_embeddings(x, min_cluster_size=10, reduce_to=32)
    scores = identity_scores(result.labels[:320].tolist(), truth.astype(str).tolist())
    assert result.reduced_to == 32 and len(result.clusters) == 8
    assert scores["purity"] == 1.0 and scores["ari"] > 0.95
    assert (result.labels[320:] == NOISE).all()
    for c, m in result.medoids.items():
        assert result.labels[m] == c and 0 < result.intra_similarity[c] <= 1
    best, sim = nearest_medoid(x[5], x, result)
    assert best == result.labels[5] and sim > 0.5


def test_tracks_are_clustered_once_so_long_tracks_do_not_become_identities():
    """Two people, each seen in three shots (tracks of 5 faces): clustering one point per track finds the two
    people; the faces inherit their track's cluster."""
    from animproc.identity.cluster import cluster_tracks

    x, truth = _identities(2, 3, spread=0.8)
    faces = np.repeat(x, 5, axis=0)
    tracks = np.repeat(np.arange(6), 5)
    result = cluster_tracks(faces, tracks, min_cluster_size=10)
    assert len(result.clusters) == 2
    assert identity_scores(result.labels.tolist(), np.repeat(truth, 5).astype(str).tolist())["ari"] == 1.0
    assert all(len(set(result.labels[tracks == t])) == 1 for t in range(6))
    assert len(cluster_tracks(np.zeros((0, 128)), np.zeros(0, int), 10).labels) == 0


def test_too_few_faces_are_all_noise_and_one_group_is_one_cluster():
    assert (cluster_embeddings(np.eye(4, 16), min_cluster_size=10).labels == NOISE).all()
    x, _ = _identities(1, 12)
    labels = cluster_embeddings(x, min_cluster_size=5).labels
    assert set(labels) - {NOISE} == {0}


def test_scores_count_noise_against_coverage_not_purity():
    s = identity_scores([0, 0, 1, 1, -1, -1], ["a", "a", "b", "a", "b", "c"])
    assert s["purity"] == 0.75 and s["coverage"] == pytest.approx(4 / 6, abs=1e-4) and s["clusters"] == 2
    assert identity_scores([3, 3, 7], ["x", "x", "y"])["ari"] == 1.0


def test_reference_files_in_both_layouts(tmp_path):
    flat = tmp_path / "flat.json"
    flat.write_text('{"0000012_01.png": "sintel", "0000040.jpg": "warrior"}')
    assert load_reference(flat) == {"0000012_01.png": "sintel", "0000040.jpg": "warrior"}
    nested = tmp_path / "nested.json"
    nested.write_text('{"identities": {"obama": ["a.jpg"], "biden": ["b.jpg"]}, '
                      '"multi_face_scenes": {"both.jpg": ["obama", "biden"], "other.jpg": "unlabelled"}}')
    ref = load_reference(nested)
    assert ref == {"obama/a.jpg": "obama", "biden/b.jpg": "biden", "_multi_face_scenes/both.jpg": ["obama", "biden"]}
    assignment = {"images": {"obama/a.jpg": [{"size": 30, "cluster": 4}, {"size": 5, "cluster": 9}],
                             "biden/b.jpg": [{"size": 20, "cluster": 2}],
                             "_multi_face_scenes/both.jpg": [{"size": 10, "cluster": 2}, {"size": 9, "cluster": 7}]}}
    s = score_assignment(assignment, ref)
    assert s["purity"] == 1.0 and s["clusters"] == 2
    assert s["multi_face_scenes"]["_multi_face_scenes/both.jpg"] == {"obama": False, "biden": True}


def test_faces_link_into_tracks_within_a_shot_only():
    faces = pd.DataFrame({"shot_id": [0, 0, 0, 0, 1], "frame_index": [0, 0, 5, 10, 11],
                          "x0": [10, 200, 14, 18, 18], "y0": [10, 10, 12, 14, 14],
                          "x1": [60, 250, 64, 68, 68], "y1": [60, 60, 62, 64, 64]})
    tracks = link_tracks(faces)
    assert tracks[0] == tracks[2] == tracks[3] and tracks[1] != tracks[0] and tracks[4] != tracks[3]


def test_clustering_vectors_average_tracks_and_weigh_costume():
    emb = np.array([[1, 0], [0.8, 0.6], [0, 1]], np.float32)
    red = np.dstack([np.zeros((8, 8, 2), np.uint8), np.full((8, 8), 200, np.uint8), np.full((8, 8), 255, np.uint8)])
    body = costume_histogram(red)
    v = clustering_vectors(emb, np.array([0, 0, 1]), [body, None, body], body_weight=0.3)
    assert np.allclose(v[0], v[1]) and np.linalg.norm(v[0]) == pytest.approx(1, abs=1e-5)
    face_part = v[0][:2] / np.linalg.norm(v[0][:2])
    assert np.allclose(face_part, [0.9487, 0.3162], atol=1e-3)
    assert float(v[0] @ v[2]) == pytest.approx(0.7 * float(face_part @ [0, 1]) + 0.3, abs=1e-4)


def test_insightface_backend_loads_a_buffalo_style_pack(tmp_path):
    """SCRFD + ArcFace ONNX files with buffalo_l's input/output shapes (random weights; the detector's score
    head fires only on white) load through the resource; the face is found where the white patch is, aligned
    to 112x112, with a unit 512-d embedding."""
    from resources.face_analyzer import FaceAnalyzerResource

    pack = write_random_buffalo_pack(tmp_path / "buffalo_l")
    analyzer = FaceAnalyzerResource(backend="insightface", insightface_pack=str(pack), device="cpu").model(
        FilmConfig.model_validate({"identities": {"face_threshold": 0.5}}))
    assert isinstance(analyzer, FaceAnalyzer) and isinstance(analyzer.detector, FaceDetector)
    image = np.zeros((360, 640, 3), np.uint8)
    image[100:200, 300:400] = 255
    faces = analyzer(image)
    assert faces
    for f in faces:
        cx, cy = (f.box[0] + f.box[2]) / 2, (f.box[1] + f.box[3]) / 2
        assert 280 <= cx <= 420 and 80 <= cy <= 220
        assert f.crop.shape == (112, 112, 3) and f.embedding.shape == (512,)
        assert np.linalg.norm(f.embedding) == pytest.approx(1, abs=1e-5) and f.landmarks.shape == (5, 2)
    assert analyzer(np.zeros((200, 300, 3), np.uint8)) == []


def test_insightface_backend_errors_name_the_pack(tmp_path):
    from resources.face_analyzer import FaceAnalyzerResource

    with pytest.raises(ModelError, match="ANIMPROC_INSIGHTFACE_PACK"):
        FaceAnalyzerResource(backend="insightface", insightface_pack=None).model()
    with pytest.raises(ModelError, match="not found"):
        FaceAnalyzerResource(backend="insightface", insightface_pack=str(tmp_path / "nope")).model()
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="det_"):
        FaceAnalyzerResource(backend="insightface", insightface_pack=str(tmp_path / "empty")).model()


def test_head_yaw_buckets_from_landmarks_and_faceless_instances():
    """Nose centred between the eyes is front, offset by a third of the eye distance is three-quarter, beyond
    is profile; without a face, a tall instance is a back view and a small one unknown."""
    from animproc.identity.poses import bucket_of

    def lm(nose_x):
        return [40, 50, 60, 50, nose_x, 60, 42, 70, 58, 70]

    assert bucket_of(lm(50), 40, 200, 0.12, 0.35, 96)[0] == "front"
    assert bucket_of(lm(54), 40, 200, 0.12, 0.35, 96)[0] == "three_quarter"
    assert bucket_of(lm(60), 40, 200, 0.12, 0.35, 96)[0] == "profile"
    assert bucket_of(lm(50), 150, 200, 0.12, 0.35, 96)[0] == "profile"  # eyes close together in a wide box
    assert bucket_of(None, None, 200, 0.12, 0.35, 96) == ("back", None)
    assert bucket_of(None, None, 50, 0.12, 0.35, 96) == ("unknown", None)


def test_balanced_sample_covers_every_bucket_and_subcluster_first():
    from animproc.identity.poses import balanced_sample

    buckets = ["front"] * 10 + ["profile"] * 3 + ["back"] * 2
    groups = [0] * 5 + [1] * 5 + [0] * 3 + [-1] * 2
    quality = list(range(15))
    picked = balanced_sample(buckets, groups, quality, 6)
    assert len(picked) == 6 and len(set(picked)) == 6
    assert {buckets[i] for i in picked[:3]} == {"front", "profile", "back"}
    fronts = [i for i in picked if buckets[i] == "front"]
    assert {groups[i] for i in fronts} == {0, 1} and 9 in fronts  # both sub-clusters, best quality first
    assert sorted(balanced_sample(buckets, groups, quality, 100)) == list(range(15))
