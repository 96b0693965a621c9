"""Zero-shot confirmation of catalogued effects with an image-text model (CLIP) from local weights.

For each effect, the frame at its peak is scored against two texts: the effect's prompt and a neutral one;
the softmax probability of the effect's prompt is its confirmation. A film config can replace any prompt."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from animproc.errors import ModelError
from animproc.models import ZeroShotConfirmer

NEUTRAL = "an ordinary frame from an animated film"
DEFAULT_PROMPTS = {
    "glow": "a glowing light source with a soft halo", "flash": "a bright flash of light",
    "coloured_light": "a scene lit by strong coloured light", "snow": "snow falling", "dust": "dust in the air",
    "sparks": "flying sparks", "rain": "rain falling", "weather": "a snowstorm or rainstorm",
    "depth_of_field": "a sharp subject in front of a blurred background", "motion_blur": "a motion-blurred frame",
    "lens_flare": "a lens flare", "transformation": "a character transforming", "fade": "a frame fading to black",
    "dissolve": "two images blended in a dissolve",
}


class NoConfirmer:
    """The default without a model: effects stand on their measured signals, every confirmation None."""

    name = "none"

    def __call__(self, images_bgr: list[np.ndarray], prompt: str, neutral: str = NEUTRAL) -> list[float | None]:
        return [None] * len(images_bgr)


class ClipConfirmer:
    name = "clip"

    def __init__(self, model_dir: str | Path, device: str = "auto"):
        import torch
        from transformers import CLIPModel, CLIPProcessor

        path = Path(model_dir)
        if not path.is_dir():
            raise ModelError(path, "CLIP model folder not found (a transformers CLIPModel saved with its processor)")
        try:
            self.model = CLIPModel.from_pretrained(str(path), local_files_only=True).eval()
            self.processor = CLIPProcessor.from_pretrained(str(path), local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ModelError(path, f"not a loadable CLIP model folder ({exc})") from None
        self.device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
        self.model.to(self.device)

    def __call__(self, images_bgr: list[np.ndarray], prompt: str, neutral: str = NEUTRAL) -> list[float]:
        """Per image: probability that `prompt` describes it rather than `neutral`."""
        import torch

        if not images_bgr:
            return []
        inputs = self.processor(text=[prompt, neutral], images=[im[..., ::-1].copy() for im in images_bgr],
                                return_tensors="pt", padding=True).to(self.device)
        with torch.inference_mode():
            logits = self.model(**inputs).logits_per_image
        return torch.softmax(logits, -1)[:, 0].cpu().tolist()


def confirm_events(events: list[dict], thumbnails: dict[int, np.ndarray], confirmer: ZeroShotConfirmer,
                   prompts: dict[str, str] | None = None) -> None:
    """Adds `confirmation` (0-1, None where no peak frame was kept or the confirmer judges nothing) to each
    event, in place, one model call per effect type."""
    prompts = {**DEFAULT_PROMPTS, **(prompts or {})}
    by_type: dict[str, list[dict]] = {}
    for e in events:
        e["confirmation"] = None
        if int(e["peak_frame"]) in thumbnails and e["type"] in prompts:
            by_type.setdefault(e["type"], []).append(e)
    for kind, group in by_type.items():
        scores = confirmer([thumbnails[int(e["peak_frame"])] for e in group], prompts[kind])
        for e, p in zip(group, scores):
            e["confirmation"] = None if p is None else round(float(p), 3)
