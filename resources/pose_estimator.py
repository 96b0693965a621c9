"""2-D pose per tracked character. Backends: `rtmpose` (an RTMPose ONNX file, ANIMPROC_RTMPOSE_MODEL, with
onnxruntime; CUDA when present) and `none` (the default: no package installable beside this stack ships pose
weights, so without a model the pose stage estimates nothing and its status says why). Chosen by
ANIMPROC_POSE_ESTIMATOR, which becomes `rtmpose` by itself when a model path is set."""
from typing import Literal

from dagster import ConfigurableResource

from animproc.config import FilmConfig
from animproc.errors import ModelError
from animproc.models import PoseEstimator
from animproc.temporal.pose import NoPoseEstimator, RtmPoseEstimator
from resources import from_env


class PoseEstimatorResource(ConfigurableResource):
    backend: Literal["auto", "none", "rtmpose"] = from_env("ANIMPROC_POSE_ESTIMATOR", "auto")
    rtmpose_model: str | None = from_env("ANIMPROC_RTMPOSE_MODEL")
    device: str = from_env("ANIMPROC_DEVICE", "auto")

    def model(self, config: FilmConfig | None = None) -> PoseEstimator:
        backend = self.backend
        if backend == "auto":
            backend = "rtmpose" if self.rtmpose_model else "none"
        if backend == "none":
            return NoPoseEstimator()
        if not self.rtmpose_model:
            raise ModelError("ANIMPROC_RTMPOSE_MODEL", "the rtmpose backend needs a local ONNX file")
        return RtmPoseEstimator(self.rtmpose_model, self.device)
