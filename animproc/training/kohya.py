"""The configs kohya's `sd-scripts` reads: the dataset config (`--dataset_config`: `[general]`, `[[datasets]]`,
`[[datasets.subsets]]`, see its docs/config_README-en.md) and a `train_network.py --config_file` with the LoRA
settings. Augmentations that mirror or recolour an image are off everywhere: a horizontal flip swaps an
asymmetric design's sides and colour jitter shifts PBR materials' albedo, and the LoRA would learn both.
`alpha_mask` with `masked_loss` makes the loss ignore the transparent background of the cutouts."""
from __future__ import annotations

from dataclasses import dataclass

import tomli_w

from animproc.config import TrainingConfig

CAPTION_EXTENSION = ".txt"


@dataclass(frozen=True)
class Subset:
    character: str
    image_dir: str
    trigger: str
    images: int


def repeats(counts: dict[str, int]) -> dict[str, int]:
    """`num_repeats` per subset so every character contributes about as many steps per epoch as the largest:
    round(largest / own), at least 1."""
    if not counts:
        return {}
    most = max(counts.values())
    return {name: max(1, round(most / n)) for name, n in counts.items()}


def dataset_toml(subsets: list[Subset], config: TrainingConfig) -> str:
    reps = repeats({s.character: s.images for s in subsets})
    doc = {
        "general": {"caption_extension": CAPTION_EXTENSION, "shuffle_caption": False, "keep_tokens": 0,
                    "enable_bucket": True, "flip_aug": False, "color_aug": False},
        "datasets": [{
            "resolution": config.resolution, "batch_size": config.train_batch_size,
            "subsets": [{"image_dir": s.image_dir, "caption_extension": CAPTION_EXTENSION,
                         "num_repeats": reps[s.character], "class_tokens": s.trigger, "flip_aug": False,
                         "color_aug": False, "alpha_mask": True} for s in subsets]}],
    }
    return tomli_w.dumps(doc)


def training_toml(config: TrainingConfig, output_name: str, dataset_config: str = "dataset.toml",
                  base_model: str | None = None) -> str:
    """Settings for `train_network.py --config_file`; the base model is left for the user to fill when none
    is configured (kohya needs a path, and this platform never fetches one)."""
    doc = {
        "pretrained_model_name_or_path": base_model or "",
        "dataset_config": dataset_config,
        "network_module": "networks.lora",
        "network_dim": config.network_dim,
        "network_alpha": config.network_alpha,
        "learning_rate": config.learning_rate,
        "max_train_steps": config.max_train_steps,
        "resolution": f"{config.resolution},{config.resolution}",
        "train_batch_size": config.train_batch_size,
        "masked_loss": True,
        "mixed_precision": "bf16",
        "save_model_as": "safetensors",
        "save_every_n_steps": max(1, config.max_train_steps // 4),
        "output_dir": "checkpoints",
        "output_name": output_name,
        "caption_extension": CAPTION_EXTENSION,
        "seed": 0,
    }
    return tomli_w.dumps(doc)
