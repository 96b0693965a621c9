"""Training captions. Backends: `template` (default: phrases from what the platform measured, offline, its
method says it is a template) and `qwen2vl` (Qwen2-VL from a local folder, ANIMPROC_QWEN2VL_MODEL; setting it is
enough; bf16 on CUDA). Token counts use the CLIP tokenizer of ANIMPROC_BASE_MODEL when it is set. Chosen by
ANIMPROC_CAPTIONER."""
from typing import Literal

from dagster import ConfigurableResource

from animproc.config import FilmConfig
from animproc.errors import ModelError
from animproc.models import Captioner
from animproc.training.captions import QwenCaptioner, TemplateCaptioner, TokenCounter, token_counter
from resources import from_env


class CaptionerResource(ConfigurableResource):
    backend: Literal["auto", "template", "qwen2vl"] = from_env("ANIMPROC_CAPTIONER", "auto")
    qwen2vl_model: str | None = from_env("ANIMPROC_QWEN2VL_MODEL")
    base_model: str | None = from_env("ANIMPROC_BASE_MODEL")
    device: str = from_env("ANIMPROC_DEVICE", "auto")
    batch_size: int = 8

    def model(self, config: FilmConfig | None = None) -> Captioner:
        backend = self.backend
        if backend == "auto":
            backend = "qwen2vl" if self.qwen2vl_model else "template"
        if backend == "template":
            return TemplateCaptioner()
        if not self.qwen2vl_model:
            raise ModelError("ANIMPROC_QWEN2VL_MODEL", "the qwen2vl captioner needs a local model folder")
        return QwenCaptioner(self.qwen2vl_model, self.device, self.batch_size)


def caption_tokens(captioner: CaptionerResource) -> TokenCounter:
    """The caption token counter: the base model's CLIP tokenizer, else the documented approximation (a helper
    beside the resource, whose one accessor hands out the captioner)."""
    return token_counter(captioner.base_model)
