"""Speaker diarization. Backend `embedded`: silero-vad + resemblyzer d-vectors + spectral clustering,
offline on CPU with the weights those PyPI packages ship. Chosen by ANIMPROC_DIARIZER."""
from typing import Literal

from dagster import ConfigurableResource

from animproc.audio.diarize import EmbeddedDiarizer
from resources import from_env


class DiarizerResource(ConfigurableResource):
    backend: Literal["embedded"] = from_env("ANIMPROC_DIARIZER", "embedded")
    max_speakers: int = 8
    vad_threshold: float = 0.5

    def diarizer(self) -> EmbeddedDiarizer:
        return EmbeddedDiarizer(vad_threshold=self.vad_threshold, max_speakers=self.max_speakers)
