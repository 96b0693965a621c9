"""Dense optical flow. Backends: `dis` (embedded, OpenCV DIS, no weights) and `raft` (torchvision RAFT with a
state dict from a local file, ANIMPROC_RAFT_CHECKPOINT, `raft_small` or `raft_large`; CUDA when present).
Chosen by ANIMPROC_OPTICAL_FLOW."""
from typing import Literal

from dagster import ConfigurableResource

from animproc.config import FilmConfig
from animproc.errors import ModelError
from animproc.models import FlowEstimator
from animproc.temporal.flow import DisFlow, RaftFlow
from resources import from_env


class OpticalFlowResource(ConfigurableResource):
    backend: Literal["dis", "raft"] = from_env("ANIMPROC_OPTICAL_FLOW", "dis")
    raft_checkpoint: str | None = from_env("ANIMPROC_RAFT_CHECKPOINT")
    raft_architecture: Literal["raft_small", "raft_large"] = from_env("ANIMPROC_RAFT_ARCHITECTURE", "raft_small")
    device: str = from_env("ANIMPROC_DEVICE", "auto")

    def model(self, config: FilmConfig | None = None) -> FlowEstimator:
        if self.backend == "dis":
            return DisFlow()
        if not self.raft_checkpoint:
            raise ModelError("ANIMPROC_RAFT_CHECKPOINT", "the raft backend needs a local checkpoint file")
        return RaftFlow(self.raft_checkpoint, self.raft_architecture, self.device)
