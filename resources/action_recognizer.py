"""Actions per track segment. Backends: `heuristic` (embedded; from track and flow motion, says it is a
heuristic) and `torchvision` (r3d_18 / mc3_18 / r2plus1d_18 state dict from ANIMPROC_ACTION_MODEL with class
names from ANIMPROC_ACTION_LABELS, one per line; CUDA when present). Chosen by ANIMPROC_ACTION_RECOGNIZER."""
from typing import Literal

from dagster import ConfigurableResource

from animproc.config import FilmConfig
from animproc.errors import ModelError
from animproc.models import ActionRecognizer
from animproc.temporal.actions import HeuristicActionRecognizer, VideoActionRecognizer
from resources import from_env


class ActionRecognizerResource(ConfigurableResource):
    backend: Literal["heuristic", "torchvision"] = from_env("ANIMPROC_ACTION_RECOGNIZER", "heuristic")
    checkpoint: str | None = from_env("ANIMPROC_ACTION_MODEL")
    labels: str | None = from_env("ANIMPROC_ACTION_LABELS")
    architecture: Literal["r3d_18", "mc3_18", "r2plus1d_18"] = from_env("ANIMPROC_ACTION_ARCHITECTURE", "r3d_18")
    device: str = from_env("ANIMPROC_DEVICE", "auto")

    def model(self, config: FilmConfig | None = None) -> ActionRecognizer:
        if self.backend == "heuristic":
            return HeuristicActionRecognizer()
        if not self.checkpoint or not self.labels:
            raise ModelError("ANIMPROC_ACTION_MODEL", "the torchvision backend needs a checkpoint and a labels file")
        return VideoActionRecognizer(self.checkpoint, self.labels, self.architecture, self.device)
