"""Character segmentation. Backends: `embedded` (no weights: the face resource's faces + foreground regions
seeding GrabCut) and `sam2` (SAM2 automatic mask generation from a local checkpoint and the package's config name;
CUDA when present). Chosen by ANIMPROC_SEGMENTER; ANIMPROC_SAM2_CHECKPOINT and ANIMPROC_SAM2_CONFIG name the
weights. Point density, thresholds and crop layers come from the film config. ANIMPROC_SEGMENTER_THREADS: how many
frames the embedded segmenter cuts at once (`auto`, the default: the usable cores; 1: one after the other)."""
from typing import Literal

from dagster import ConfigurableResource

from animproc.config import FilmConfig
from animproc.errors import ModelError
from animproc.instances.segment import EmbeddedSegmenter, Sam2Segmenter
from animproc.models import Segmenter
from animproc.threads import thread_count
from resources import film_config_or_default, from_env


class SegmenterResource(ConfigurableResource):
    backend: Literal["embedded", "sam2"] = from_env("ANIMPROC_SEGMENTER", "embedded")
    sam2_checkpoint: str | None = from_env("ANIMPROC_SAM2_CHECKPOINT")
    sam2_config: str = from_env("ANIMPROC_SAM2_CONFIG", "configs/sam2.1/sam2.1_hiera_l.yaml")
    device: str = from_env("ANIMPROC_DEVICE", "auto")
    threads: str = from_env("ANIMPROC_SEGMENTER_THREADS", "auto")

    def model(self, config: FilmConfig | None = None) -> Segmenter:
        if self.backend == "embedded":
            return EmbeddedSegmenter(threads=thread_count(self.threads, "ANIMPROC_SEGMENTER_THREADS"))
        if not self.sam2_checkpoint:
            raise ModelError("ANIMPROC_SAM2_CHECKPOINT", "the sam2 segmenter needs a local checkpoint path")
        c = film_config_or_default(config).instances
        return Sam2Segmenter(self.sam2_config, self.sam2_checkpoint, self.device, c.points_per_side,
                             c.points_per_batch, c.pred_iou_thresh, c.stability_score_thresh, c.crop_n_layers)
