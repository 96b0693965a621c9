"""Speaker diarization. Backends: `embedded` (silero-vad + resemblyzer d-vectors, similarity-threshold
clustering and HMM resegmentation, offline on CPU with the weights those PyPI packages ship) and `pyannote` (a
pyannote.audio pipeline from a local folder, ANIMPROC_PYANNOTE_PIPELINE: its config.yaml with the
segmentation, embedding and PLDA folders; no token, CUDA when present). Chosen by ANIMPROC_DIARIZER."""
from typing import Literal

from dagster import ConfigurableResource

from animproc.audio.diarize import EmbeddedDiarizer, PyannoteDiarizer
from animproc.config import FilmConfig
from animproc.errors import ModelError
from animproc.models import Diarizer
from resources import from_env


class DiarizerResource(ConfigurableResource):
    backend: Literal["embedded", "pyannote"] = from_env("ANIMPROC_DIARIZER", "embedded")
    pyannote_pipeline: str | None = from_env("ANIMPROC_PYANNOTE_PIPELINE")
    device: str = from_env("ANIMPROC_DEVICE", "auto")
    max_speakers: int = 8
    vad_threshold: float = 0.5

    def model(self, config: FilmConfig | None = None) -> Diarizer:
        if self.backend == "embedded":
            return EmbeddedDiarizer(vad_threshold=self.vad_threshold, max_speakers=self.max_speakers)
        if not self.pyannote_pipeline:
            raise ModelError("ANIMPROC_PYANNOTE_PIPELINE", "the pyannote diarizer needs a local pipeline folder")
        return PyannoteDiarizer(self.pyannote_pipeline, self.device, self.max_speakers)
