"""Occlusion inpainting. Backends: `opencv` (embedded, no weights), `lama` (LaMa TorchScript from a local file,
ANIMPROC_LAMA_MODEL) and `sd` (a diffusers inpainting pipeline from a local folder, ANIMPROC_SD_INPAINT_MODEL,
prompted per character from `{prompts_dir}/{film}_prompts.json`). Chosen by ANIMPROC_INPAINTER."""
from pathlib import Path
from typing import Literal

from dagster import ConfigurableResource

from animproc.config import FilmConfig
from animproc.errors import ModelError
from animproc.instances.inpaint import DiffusersInpainter, LamaInpainter, OpenCVInpainter, load_prompts
from animproc.models import Inpainter
from resources import from_env


class InpainterResource(ConfigurableResource):
    backend: Literal["opencv", "lama", "sd"] = from_env("ANIMPROC_INPAINTER", "opencv")
    lama_model: str | None = from_env("ANIMPROC_LAMA_MODEL")
    sd_model: str | None = from_env("ANIMPROC_SD_INPAINT_MODEL")
    sd_steps: int = 25
    prompts_dir: str = from_env("ANIMPROC_INPAINT_PROMPTS_DIR", "configs/inpainting")
    device: str = from_env("ANIMPROC_DEVICE", "auto")

    def model(self, config: FilmConfig | None = None) -> Inpainter:
        if self.backend == "opencv":
            return OpenCVInpainter()
        if self.backend == "lama":
            if not self.lama_model:
                raise ModelError("ANIMPROC_LAMA_MODEL", "the lama inpainter needs a local TorchScript file")
            return LamaInpainter(self.lama_model, self.device)
        if not self.sd_model:
            raise ModelError("ANIMPROC_SD_INPAINT_MODEL", "the sd inpainter needs a local diffusers folder")
        return DiffusersInpainter(self.sd_model, self.device, self.sd_steps)

    def prompts(self, film: str) -> dict[str, str]:
        return load_prompts(Path(self.prompts_dir) / f"{film}_prompts.json")
