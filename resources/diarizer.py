"""Speaker diarization. Backend `embedded`: silero-vad + resemblyzer d-vectors + spectral clustering,
offline on CPU with the weights those PyPI packages ship. Chosen by ANIMPROC_DIARIZER."""
import os
from typing import Literal

from dagster import ConfigurableResource
from pydantic import Field

from animproc.audio.diarize import EmbeddedDiarizer


class DiarizerResource(ConfigurableResource):
    backend: Literal["embedded"] = Field(default_factory=lambda: os.environ.get("ANIMPROC_DIARIZER", "embedded"))
    max_speakers: int = 8
    vad_threshold: float = 0.5

    def diarizer(self) -> EmbeddedDiarizer:
        return EmbeddedDiarizer(vad_threshold=self.vad_threshold, max_speakers=self.max_speakers)
