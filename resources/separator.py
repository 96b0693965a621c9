"""Dialogue separation. Backends: `embedded` (no weights: centre extraction / two-stage HPSS) and `demucs`
(a Hybrid Transformer Demucs checkpoint from a local file, e.g. htdemucs; CUDA when present). Chosen by
ANIMPROC_SEPARATOR; the checkpoint path by ANIMPROC_DEMUCS_MODEL."""
from typing import Literal

from dagster import ConfigurableResource

from animproc.audio.separate import DemucsSeparator, EmbeddedSeparator
from resources import from_env


class SeparatorResource(ConfigurableResource):
    backend: Literal["embedded", "demucs"] = from_env("ANIMPROC_SEPARATOR", "embedded")
    demucs_model: str | None = from_env("ANIMPROC_DEMUCS_MODEL")
    device: str = from_env("ANIMPROC_DEVICE", "auto")
    chunk_seconds: float = 30.0

    def separator(self):
        if self.backend == "embedded":
            return EmbeddedSeparator()
        if not self.demucs_model:
            raise ValueError("separator backend 'demucs' needs a local checkpoint: set ANIMPROC_DEMUCS_MODEL")
        return DemucsSeparator(self.demucs_model, self.device)
