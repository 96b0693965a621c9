"""Dialogue separation. Backends: `embedded` (no weights: centre extraction / two-stage HPSS) and `demucs`
(a Hybrid Transformer Demucs checkpoint from a local file, e.g. htdemucs; CUDA when present). Chosen by
ANIMPROC_SEPARATOR; the checkpoint path by ANIMPROC_DEMUCS_MODEL."""
from typing import Literal

from dagster import ConfigurableResource

from animproc.audio.separate import DemucsSeparator, EmbeddedSeparator
from animproc.config import FilmConfig
from animproc.errors import ModelError
from animproc.models import Separator
from resources import from_env


class SeparatorResource(ConfigurableResource):
    backend: Literal["embedded", "demucs"] = from_env("ANIMPROC_SEPARATOR", "embedded")
    demucs_model: str | None = from_env("ANIMPROC_DEMUCS_MODEL")
    device: str = from_env("ANIMPROC_DEVICE", "auto")
    chunk_seconds: float = 30.0

    def model(self, config: FilmConfig | None = None) -> Separator:
        if self.backend == "embedded":
            return EmbeddedSeparator()
        if not self.demucs_model:
            raise ModelError("ANIMPROC_DEMUCS_MODEL", "the demucs separator needs a local checkpoint file")
        return DemucsSeparator(self.demucs_model, self.device)
