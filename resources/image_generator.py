"""Images for checkpoint evaluation: a diffusers Stable Diffusion pipeline from a local folder
(ANIMPROC_BASE_MODEL) with each kohya LoRA checkpoint merged in turn; without a base model, `none`, which says
why evaluation was skipped. CLIP scores come from ANIMPROC_CLIP_MODEL when it is set."""
from dagster import ConfigurableResource

from animproc.config import FilmConfig
from animproc.models import ImageGenerator
from animproc.training.evaluation import ClipScorer
from animproc.training.generator import DiffusersGenerator, NoGenerator
from resources import from_env


class ImageGeneratorResource(ConfigurableResource):
    base_model: str | None = from_env("ANIMPROC_BASE_MODEL")
    clip_model: str | None = from_env("ANIMPROC_CLIP_MODEL")
    device: str = from_env("ANIMPROC_DEVICE", "auto")

    def model(self, config: FilmConfig | None = None) -> ImageGenerator:
        return DiffusersGenerator(self.base_model, self.device) if self.base_model else NoGenerator()


def clip_scorer(generator: ImageGeneratorResource) -> ClipScorer | None:
    """The CLIP scorer of the evaluation when ANIMPROC_CLIP_MODEL is set."""
    return ClipScorer(generator.clip_model, generator.device) if generator.clip_model else None
