"""Zero-shot confirmation of effects. Backends: `none` (default: effects come from measured signals alone,
every confirmation empty) and `clip` (a transformers CLIPModel + CLIPProcessor saved in a local folder,
ANIMPROC_CLIP_MODEL; setting it is enough). Chosen by ANIMPROC_ZERO_SHOT."""
from typing import Literal

from dagster import ConfigurableResource

from animproc.config import FilmConfig
from animproc.errors import ModelError
from animproc.models import ZeroShotConfirmer
from animproc.temporal.zero_shot import ClipConfirmer, NoConfirmer
from resources import from_env


class ZeroShotResource(ConfigurableResource):
    backend: Literal["auto", "none", "clip"] = from_env("ANIMPROC_ZERO_SHOT", "auto")
    clip_model: str | None = from_env("ANIMPROC_CLIP_MODEL")
    device: str = from_env("ANIMPROC_DEVICE", "auto")

    def model(self, config: FilmConfig | None = None) -> ZeroShotConfirmer:
        backend = self.backend
        if backend == "auto":
            backend = "clip" if self.clip_model else "none"
        if backend == "none":
            return NoConfirmer()
        if not self.clip_model:
            raise ModelError("ANIMPROC_CLIP_MODEL", "the clip backend needs a local model folder")
        return ClipConfirmer(self.clip_model, self.device)
