"""Active-speaker backends: `embedded` (mouth opening from MediaPipe's face mesh, shipped in the mediapipe
wheel and run with LiteRT, lower-face motion energy where the mesh fits no face; correlated with the vocals'
loudness) and `onnx` (a Light-ASD / TalkNet-style ONNX from a local file, ANIMPROC_ASD_MODEL; CUDA when
present). Chosen by ANIMPROC_ACTIVE_SPEAKER."""
from typing import Literal

from dagster import ConfigurableResource

from animproc.config import FilmConfig
from animproc.errors import ModelError
from animproc.models import ActiveSpeakerModel
from resources import from_env


class ActiveSpeakerResource(ConfigurableResource):
    backend: Literal["embedded", "onnx"] = from_env("ANIMPROC_ACTIVE_SPEAKER", "embedded")
    model_path: str | None = from_env("ANIMPROC_ASD_MODEL")
    device: str = from_env("ANIMPROC_DEVICE", "auto")

    def model(self, config: FilmConfig | None = None) -> ActiveSpeakerModel:
        if self.backend == "embedded":
            from animproc.multimodal.active_speaker import EmbeddedActiveSpeaker

            return EmbeddedActiveSpeaker()
        if not self.model_path:
            raise ModelError("ANIMPROC_ASD_MODEL", "the onnx active-speaker backend needs a local .onnx file")
        from animproc.multimodal.asd_onnx import OnnxActiveSpeaker

        return OnnxActiveSpeaker(self.model_path, device=self.device)
