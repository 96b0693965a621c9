"""The cost of `faces`: detections `instances` stored are reused instead of searched again, and faces left out
of clustering are not embedded (small generated frames, a recording stand-in analyzer)."""
import numpy as np
import pandas as pd
import pytest

from animproc.catalogue import FilmProducts
from animproc.config import FilmConfig
from animproc.identity.stages import detect_faces
from animproc.image.faces import CenterFaceDetector, Face, detector_key, faces_json, stored_detections
from animproc.storage import Storage
from onnx_helpers import write_random_buffalo_pack


def _face(x: float, y: float, eyes: float) -> Face:
    """A face at (x, y) whose eyes are `eyes` pixels apart."""
    lm = ((x - eyes / 2, y), (x + eyes / 2, y), (x, y + eyes / 2), (x - eyes / 3, y + eyes), (x + eyes / 3, y + eyes))
    return Face((x - eyes, y - eyes, x + eyes, y + 1.5 * eyes), 0.9, lm)


class RecordingAnalyzer:
    """Finds one large face on every frame it searches; records the frames searched and the faces embedded."""

    name, dim = "recording", 4

    def __init__(self):
        self.searched, self.embedded = [], []
        analyzer = self

        class Detector:
            name, threshold = "recording", 0.3

            def __call__(self, image):
                analyzer.searched.append(int(image[0, 0, 0]))
                return [_face(60, 60, 30)]

        self.detector = Detector()

    def embed(self, image, faces):
        self.embedded.extend((int(image[0, 0, 0]), f.box) for f in faces)
        return [np.ones(self.dim, np.float32) / 2 for _ in faces]


def _frames(indices):
    """Noise frames (sharp crops) whose first pixel carries the frame index."""
    rng = np.random.default_rng(0)
    for i in indices:
        image = rng.integers(0, 256, (160, 160, 3), np.uint8)
        image[0, 0, 0] = i
        yield i, i / 24, 0, image


def _detect(tmp_path, stored):
    analyzer = RecordingAnalyzer()
    kept = pd.DataFrame(columns=["frame_index", "instance_id", "mask_height", "mask_width", "mask_rle"])
    with FilmProducts(Storage(tmp_path), "demo").publish("faces") as out:
        table = detect_faces(_frames([3, 7, 11]), kept, analyzer, FilmConfig(), out, stored=stored)
    return analyzer, table


def test_frames_with_stored_detections_are_not_searched_again(tmp_path):
    stored = {3: [_face(50, 50, 20)], 11: []}
    analyzer, table = _detect(tmp_path, stored)
    assert analyzer.searched == [7]
    assert table.groupby("frame_index").size().to_dict() == {3: 1, 7: 1}
    row = table[table["frame_index"] == 3].iloc[0]
    assert (row.x0, row.y0, row.x1, row.y1) == (30, 30, 70, 80)  # the stored box, not the detector's


def test_faces_left_out_of_clustering_are_kept_in_the_table_but_not_embedded(tmp_path):
    stored = {3: [_face(50, 50, 20), _face(120, 120, 4)], 11: [_face(100, 40, 3)]}
    analyzer, table = _detect(tmp_path, stored)
    small = table[table["excluded"].notna()]
    assert sorted(small["frame_index"]) == [3, 11] and all(r.startswith("too small") for r in small["excluded"])
    assert small["embedding"].isna().all() and small["crop_path"].notna().all()
    assert sorted(analyzer.embedded) == [(3, _face(50, 50, 20).box), (7, _face(60, 60, 30).box)]
    clustered = table[table["excluded"].isna()]
    assert len(clustered) == 2 and all(np.allclose(e, 0.5) for e in clustered["embedding"])


def test_stored_detections_round_trip_exactly_and_only_for_the_same_detector():
    faces = [_face(50.123456789, 40.1, 20.3), _face(10, 10, 5)]
    detector = CenterFaceDetector(0.3)
    table = pd.DataFrame({"frame_index": [4, 9], "detector": [detector_key(detector)] * 2,
                          "faces": [faces_json(faces), faces_json([])]})
    assert stored_detections(table, detector) == {4: faces, 9: []}
    assert stored_detections(table, CenterFaceDetector(0.5)) == {}
    assert stored_detections(table, CenterFaceDetector(0.3, max_side=512)) == {}
    assert stored_detections(None, detector) == {}


def test_insightface_embeds_given_detections_as_its_own_analysis_does(tmp_path):
    from resources.face_analyzer import FaceAnalyzerResource

    pack = write_random_buffalo_pack(tmp_path / "buffalo_l")
    analyzer = FaceAnalyzerResource(backend="insightface", insightface_pack=str(pack), device="cpu").model(
        FilmConfig.model_validate({"identities": {"face_threshold": 0.5}}))
    image = np.zeros((360, 640, 3), np.uint8)
    image[100:200, 300:400] = 255
    whole = analyzer(image)
    assert whole
    given = analyzer.embed(image, analyzer.detector(image))
    assert len(given) == len(whole)
    for e, f in zip(given, whole):
        assert np.allclose(e, f.embedding, atol=1e-6)
    assert analyzer.embed(image, []) == []


@pytest.mark.slow
def test_the_embedded_analyzer_embeds_given_detections_as_its_own_analysis_does(shared_media):
    """On real CG frames (Sintel's snow fight): the faces analysed whole equal the detector's faces embedded
    apart, bit for bit, so reusing stored detections changes no embedding."""
    import av

    from animproc.identity.faces import EmbeddedFaceAnalyzer

    analyzer, checked = EmbeddedFaceAnalyzer(), 0
    with av.open(str(shared_media / "sintel_snow_fight" / "clip_03_sintel.mp4")) as container:
        for k, frame in enumerate(container.decode(video=0)):
            if k % 12 or checked >= 4 or k > 600:
                continue
            image = frame.to_ndarray(format="bgr24")
            found = analyzer.detector(image)
            whole = analyzer(image)
            assert [f.box for f in whole] == [f.box for f in found]
            for e, f in zip(analyzer.embed(image, found), whole):
                assert np.array_equal(e, f.embedding)
                checked += 1
    assert checked >= 4


def test_instances_store_the_faces_found_on_every_kept_frame_for_faces_to_reuse(tmp_path):
    """`segment_frames` keeps what its detector found on each frame (none too), under the detector's key, so
    `stored_detections` gives the `faces` step exactly those faces back."""
    import cv2

    from animproc.instances.stages import segment_frames

    storage = Storage(tmp_path)
    products = FilmProducts(storage, "demo")
    paths = []
    for i in (2, 5):
        storage.write_bytes(storage.asset_dir("demo", "frames_processed") / f"images/{i:06d}.jpg",
                            cv2.imencode(".jpg", np.full((120, 160, 3), 40 * i, np.uint8))[1].tobytes())
        paths.append(f"demo/frames_processed/images/{i:06d}.jpg")
    frames = pd.DataFrame({"frame_index": [2, 5], "time": [2 / 24, 5 / 24], "shot_id": [0, 0], "path": paths})
    found = {80: [_face(60, 50, 20)], 200: []}  # by the frame's grey level

    class Detector:
        name, threshold, max_side = "centerface", 0.3, 1024

        def __call__(self, image):
            return found[int(image[0, 0, 0])]

    with products.publish("instances") as out:
        *_, detections = segment_frames(frames, products, out, lambda image, faces: [], Detector(), FilmConfig())
    assert list(detections["frame_index"]) == [2, 5]
    assert stored_detections(detections, CenterFaceDetector(0.3)) == {2: found[80], 5: []}
