"""Images from a base model with a trained LoRA checkpoint, for checkpoint evaluation.

`DiffusersGenerator` loads a Stable Diffusion pipeline (diffusers layout) from a local folder and merges a
kohya-format LoRA into its UNet and text encoder: for every `{lora_name}.lora_down.weight` /
`.lora_up.weight` / `.alpha`, W += multiplier * alpha / rank * up @ down, where `lora_name` is `lora_unet_` or
`lora_te_` + the module's path with dots as underscores (how kohya's `networks/lora.py` names them). Merging is
exact for inference and needs no PEFT; the original weights are kept so the next checkpoint starts from the
base model. `NoGenerator` stands in when no base model is configured and says so."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from animproc.errors import ModelError

PREFIXES = {"unet": "lora_unet", "text_encoder": "lora_te"}
NO_BASE_MODEL = "no base model configured (ANIMPROC_BASE_MODEL: a local diffusers Stable Diffusion folder)"


def kohya_names(model, prefix: str) -> dict[str, object]:
    """kohya's LoRA name of every Linear and Conv2d of `model`."""
    import torch

    return {f"{prefix}_{name.replace('.', '_')}": m for name, m in model.named_modules()
            if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d))}


def lora_delta(down, up, alpha: float | None):
    """The weight change of one kohya LoRA pair (Linear, 1x1 or 3x3 Conv2d)."""
    import torch

    rank = down.shape[0]
    scale = (float(alpha) if alpha is not None else rank) / rank
    if down.dim() == 2:
        return scale * up @ down
    if down.shape[2:] == (1, 1):
        return scale * (up.squeeze(3).squeeze(2) @ down.squeeze(3).squeeze(2)).unsqueeze(2).unsqueeze(3)
    return scale * torch.nn.functional.conv2d(down.permute(1, 0, 2, 3), up).permute(1, 0, 2, 3)


def lora_pairs(state: dict, path: str | Path) -> dict[str, tuple]:
    """(down, up, alpha) per LoRA name of a kohya state dict; anything else in it is an error naming the file."""
    pairs: dict[str, dict] = {}
    for key, value in state.items():
        name, _, part = key.partition(".")
        pairs.setdefault(name, {})[part] = value
    out = {}
    for name, parts in pairs.items():
        if "lora_down.weight" not in parts or "lora_up.weight" not in parts:
            raise ModelError(path, f"{name}: not a kohya LoRA pair (keys {sorted(parts)})")
        alpha = parts.get("alpha")
        out[name] = (parts["lora_down.weight"], parts["lora_up.weight"],
                     None if alpha is None else float(alpha.reshape(-1)[0]))
    return out


class DiffusersGenerator:
    status = "ready"
    ready = True

    def __init__(self, folder: str, device: str = "auto"):
        path = Path(folder)
        if not (path / "model_index.json").exists():
            raise ModelError(path, "not a diffusers pipeline folder (model_index.json missing)")
        import torch
        from diffusers import StableDiffusionPipeline

        self.device = torch.device("cuda" if device == "auto" and torch.cuda.is_available()
                                   else "cpu" if device == "auto" else device)
        dtype = torch.float16 if self.device.type == "cuda" else torch.float32
        try:
            pipe = StableDiffusionPipeline.from_pretrained(str(path), dtype=dtype, safety_checker=None,
                                                           requires_safety_checker=False, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ModelError(path, f"cannot load the Stable Diffusion pipeline: {exc}") from None
        pipe.set_progress_bar_config(disable=True)
        self.pipe = pipe.to(self.device)
        self.modules = {**kohya_names(pipe.unet, PREFIXES["unet"]),
                        **kohya_names(pipe.text_encoder, PREFIXES["text_encoder"])}
        self.originals: dict[str, object] = {}
        self.name = f"diffusers ({path.name})"
        self.checkpoint: str | None = None

    def use(self, checkpoint: str | None) -> None:
        """Back to the base weights, then merge `checkpoint` (a kohya .safetensors) when given."""
        import torch
        from safetensors.torch import load_file

        with torch.no_grad():
            for name, weight in self.originals.items():
                self.modules[name].weight.copy_(weight)
            self.originals.clear()
            self.checkpoint = checkpoint
            if checkpoint is None:
                return
            try:
                state = load_file(checkpoint)
            except Exception as exc:  # safetensors raises its own error types for a damaged file
                raise ModelError(checkpoint, f"not a readable safetensors file: {exc}") from None
            pairs = lora_pairs(state, checkpoint)
            unknown = sorted(set(pairs) - set(self.modules))
            if unknown:
                raise ModelError(checkpoint, f"{len(unknown)} LoRA modules match nothing in the base model "
                                             f"(first: {unknown[0]}); a LoRA for another architecture?")
            for name, (down, up, alpha) in pairs.items():
                module = self.modules[name]
                delta = lora_delta(down.float(), up.float(), alpha)
                if delta.shape != module.weight.shape:
                    raise ModelError(checkpoint, f"{name}: LoRA shape {tuple(delta.shape)} does not fit the "
                                                 f"base model's {tuple(module.weight.shape)}")
                self.originals[name] = module.weight.detach().clone()
                module.weight.add_(delta.to(module.weight.device, module.weight.dtype))

    def __call__(self, prompt: str, seed: int, steps: int, size: int) -> np.ndarray:
        """A BGR uint8 image; the same prompt, seed and checkpoint give the same image."""
        import torch

        generator = torch.Generator(device="cpu").manual_seed(seed)
        with torch.inference_mode():
            rgb = self.pipe(prompt, num_inference_steps=steps, height=size, width=size, generator=generator,
                            output_type="np").images[0]
        return np.ascontiguousarray((np.clip(rgb, 0, 1) * 255).round().astype(np.uint8)[..., ::-1])


class NoGenerator:
    """No base model: evaluation is skipped, with this status as the reason."""

    name = "none"
    ready = False

    def __init__(self, status: str = NO_BASE_MODEL):
        self.status = status

    def use(self, checkpoint: str | None) -> None:
        raise RuntimeError(self.status)

    def __call__(self, prompt: str, seed: int, steps: int, size: int) -> np.ndarray:
        raise RuntimeError(self.status)
