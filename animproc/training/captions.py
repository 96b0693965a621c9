"""Captions for training images: the film's prefix, the character's trigger word, then what a captioner says
about the image, kept within CLIP's context (counted with the base model's own tokenizer when one is configured)
and cut only between words.

Two captioners meet `animproc.models.Captioner`: `TemplateCaptioner` (offline, the default) writes phrases from
what the platform already measured about the image (pose bucket, shot scale, camera movement, action, effects)
and from the cutout's own light and colours, and its method says it is a template; `QwenCaptioner` asks a
Qwen2-VL model from a local folder, batched, bf16 on CUDA."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import cv2
import numpy as np
import pandas as pd

from animproc.errors import ModelError
from animproc.progress import NO_PROGRESS, Progress

if TYPE_CHECKING:
    from animproc.config import TrainingConfig
    from animproc.models import Captioner

TEMPLATE_METHOD = "template"
_WORD = re.compile(r"[A-Za-z]+|[0-9]|[^\sA-Za-z0-9]")
LETTERS_PER_TOKEN = 8


class TokenCounter(Protocol):
    name: str

    def __call__(self, text: str) -> int: ...


class ClipTokenCounter:
    """Tokens of a CLIP tokenizer, start and end tokens included (what the 77-token context holds)."""

    def __init__(self, tokenizer, name: str):
        self.tokenizer, self.name = tokenizer, name

    def __call__(self, text: str) -> int:
        return len(self.tokenizer(text, truncation=False)["input_ids"])


class ApproximateTokenCounter:
    """CLIP's BPE without its vocabulary: every digit and punctuation mark is a token, a run of letters one
    token plus one per 8 letters past the first 8, plus start and end. Common English words are single
    tokens in CLIP's vocabulary, so this over-counts rather than under-counts: a caption it fits into 77 fits."""

    name = "approximate (no base model tokenizer)"

    def __call__(self, text: str) -> int:
        tokens = 0
        for piece in _WORD.findall(text.lower()):
            tokens += 1 + (max(0, len(piece) - 1) // LETTERS_PER_TOKEN if piece.isalpha() else 0)
        return tokens + 2


def token_counter(base_model: str | None) -> TokenCounter:
    """The configured base model's CLIP tokenizer (`{folder}/tokenizer`, diffusers layout), else the
    approximation."""
    if not base_model:
        return ApproximateTokenCounter()
    folder = Path(base_model) / "tokenizer"
    if not folder.is_dir():
        raise ModelError(folder, "the base model folder has no tokenizer/ (a diffusers pipeline folder is expected)")
    from transformers import CLIPTokenizer

    return ClipTokenCounter(CLIPTokenizer.from_pretrained(str(folder)), f"clip tokenizer ({folder})")


@dataclass
class CaptionFacts:
    """What the platform knows about one training image, for the template captioner."""
    character: str
    bucket: str | None = None
    shot_scale: str | None = None
    camera: str | None = None
    action: str | None = None
    effects: list[str] = field(default_factory=list)


@dataclass
class Caption:
    text: str
    method: str
    tokens: int
    within_range: bool
    truncated: bool


def trigger_word(config_triggers: dict[str, str], character: str) -> str:
    """The character's trigger: from the film config, else `sks_` + its name (a rare token pair, so the LoRA
    binds the identity to it rather than to a common word)."""
    if character in config_triggers:
        return config_triggers[character]
    return "sks_" + re.sub(r"[^a-z0-9]+", "_", character.lower()).strip("_")


def fit_caption(fixed: list[str], phrases: list[str], count: TokenCounter, max_tokens: int) -> tuple[str, bool]:
    """`fixed` (prefix, trigger) then `phrases`, comma-joined; words are dropped from the end until it fits in
    `max_tokens`, so a word is never cut. The fixed part is kept whole. Returns the text and whether it was cut."""
    items = [p.split() for p in phrases if p.strip()]
    head = ", ".join(f for f in fixed if f)

    def text() -> str:
        return ", ".join([head, *[" ".join(words) for words in items if words]])

    cut = False
    while items and count(text()) > max_tokens:
        items[-1].pop()
        if not items[-1]:
            items.pop()
        cut = True
    return text(), cut


def caption(fixed: list[str], body: str, method: str, count: TokenCounter, min_tokens: int,
            max_tokens: int) -> Caption:
    phrases = [p.strip(" .;:") for p in re.split(r"[,.;\n]+", body)]
    text, cut = fit_caption(fixed, [p for p in phrases if p], count, max_tokens)
    n = count(text)
    return Caption(text, method, n, min_tokens <= n <= max_tokens, cut)


_HUES = ((10, "red"), (22, "orange"), (34, "yellow"), (78, "green"), (96, "teal"), (130, "blue"), (150, "purple"),
         (170, "pink"), (180, "red"))


def light_and_colour(rgba: np.ndarray) -> list[str]:
    """Phrases for the character's own pixels (alpha above half): key (brightness), contrast, warm or cool light,
    and its two main colours (saturated pixels by hue; white, grey or black otherwise)."""
    inside = rgba[..., 3] > 127
    if inside.sum() < 16:
        return []
    bgr = rgba[..., :3][inside].astype(np.float32)
    luma = bgr @ np.array([0.114, 0.587, 0.299], np.float32)
    key = "bright high-key" if luma.mean() > 165 else "dim low-key" if luma.mean() < 75 else "even mid-key"
    contrast = "strong contrast" if luma.std() > 60 else "soft contrast" if luma.std() < 30 else "moderate contrast"
    warmth = float(bgr[:, 2].mean() - bgr[:, 0].mean())
    tone = "warm" if warmth > 20 else "cool" if warmth < -20 else "neutral"
    hsv = cv2.cvtColor(rgba[..., :3][inside].reshape(-1, 1, 3), cv2.COLOR_BGR2HSV).reshape(-1, 3).astype(int)
    h, s, v = hsv.T
    names = [name for _, name in _HUES] + ["black", "white", "grey"]
    grey = np.where(v < 50, len(_HUES), np.where(v > 200, len(_HUES) + 1, len(_HUES) + 2))
    codes = np.where((s > 60) & (v > 50), np.searchsorted([top for top, _ in _HUES], h, side="right"), grey)
    counts = np.bincount(codes, minlength=len(names))
    main = list(dict.fromkeys(names[c] for c in np.argsort(-counts, kind="stable") if counts[c]))[:2]
    return [f"{tone} {key} lighting", contrast, " and ".join(main) + " colours"]


_BUCKET_PHRASE = {"front": "front view, facing the camera", "three_quarter": "three-quarter view",
                  "profile": "side profile view", "back": "seen from behind"}


def _scale_phrase(scale: str) -> str:
    return scale.replace("_", " ") + " shot"


def _camera_phrase(camera: str) -> str:
    return "static camera" if camera == "static" else f"camera {camera.replace('_', ' ')}"


def template_phrases(facts: CaptionFacts, rgba: np.ndarray) -> list[str]:
    """The template's phrases, most telling first (a caption that must be cut loses the last ones)."""
    phrases = []
    if facts.bucket in _BUCKET_PHRASE:
        phrases.append(_BUCKET_PHRASE[facts.bucket])
    if facts.action and facts.action not in ("unknown", "none"):
        phrases.append(facts.action.replace("_", " "))
    if facts.shot_scale and facts.shot_scale != "unknown":
        phrases.append(_scale_phrase(facts.shot_scale))
    phrases += light_and_colour(rgba)
    if facts.camera and facts.camera != "unknown":
        phrases.append(_camera_phrase(facts.camera))
    if facts.effects:
        phrases.append("with " + " and ".join(e.replace("_", " ") for e in facts.effects[:2]))
    h, w = rgba.shape[:2]
    phrases.append("full body figure" if h >= 1.6 * w else "upper body" if h < 1.1 * w else "figure")
    phrases += ["rendered cg character", "clean cutout on a transparent background"]
    return phrases


class TemplateCaptioner:
    """Offline captions built from measured facts, not from looking at the image: its method says so."""

    name = "template"
    method = TEMPLATE_METHOD

    def __call__(self, images_rgba: list[np.ndarray], facts: list[CaptionFacts], prompt: str) -> list[str]:
        return [", ".join(template_phrases(f, img)) for f, img in zip(facts, images_rgba)]


def _device(device: str):
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class QwenCaptioner:
    """Qwen2-VL (`Qwen2VLForConditionalGeneration` + its processor) from a local folder, batched; bf16 on CUDA,
    float32 on CPU. The cutout is composited on mid grey so the model sees the character, not black."""

    name = "qwen2-vl"

    def __init__(self, folder: str, device: str = "auto", batch_size: int = 8, max_new_tokens: int = 60):
        path = Path(folder)
        if not (path / "config.json").exists():
            raise ModelError(path, "no Qwen2-VL model here (config.json missing)")
        import torch
        from transformers import AutoProcessor, Qwen2VLForConditionalGeneration

        self.device = _device(device)
        dtype = torch.bfloat16 if self.device.type == "cuda" else torch.float32
        try:
            self.processor = AutoProcessor.from_pretrained(str(path))
            self.model = Qwen2VLForConditionalGeneration.from_pretrained(str(path), dtype=dtype).to(self.device).eval()
        except (OSError, ValueError) as exc:
            raise ModelError(path, f"cannot load Qwen2-VL: {exc}") from None
        self.processor.tokenizer.padding_side = "left"
        self.batch_size, self.max_new_tokens = batch_size, max_new_tokens
        self.method = f"vlm:{self.name} ({path.name})"

    @staticmethod
    def _chat(prompt: str) -> str:
        return ("<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>"
                f"{prompt}<|im_end|>\n<|im_start|>assistant\n")

    def __call__(self, images_rgba: list[np.ndarray], facts: list[CaptionFacts], prompt: str) -> list[str]:
        import torch
        from PIL import Image

        out: list[str] = []
        for start in range(0, len(images_rgba), self.batch_size):
            batch = images_rgba[start:start + self.batch_size]
            pictures = [Image.fromarray(cv2.cvtColor(on_grey(img), cv2.COLOR_BGR2RGB)) for img in batch]
            inputs = self.processor(text=[self._chat(prompt)] * len(batch), images=pictures, padding=True,
                                    return_tensors="pt").to(self.device)
            with torch.inference_mode():
                ids = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False)
            new = ids[:, inputs["input_ids"].shape[1]:]
            out += [t.strip() for t in self.processor.batch_decode(new, skip_special_tokens=True)]
        return out


def on_grey(rgba: np.ndarray) -> np.ndarray:
    a = rgba[..., 3:4].astype(np.float32) / 255
    return (rgba[..., :3].astype(np.float32) * a + 128 * (1 - a)).astype(np.uint8)


def token_lengths_summary(tokens: list[int]) -> dict:
    """Min / median / max and a histogram in 10-token bins: the caption length distribution."""
    if not tokens:
        return {}
    arr = np.asarray(tokens)
    bins = {f"{b}-{b + 9}": int(((arr >= b) & (arr <= b + 9)).sum()) for b in range(0, 80, 10)}
    return {"min": int(arr.min()), "median": float(np.median(arr)), "max": int(arr.max()),
            "bins": {k: v for k, v in bins.items() if v}, "mean": round(float(arr.mean()), 1)}


CAPTION_COLUMNS = ["character", "instance_id", "path", "caption", "method", "tokens", "within_range", "truncated",
                   "token_counter", "bucket", "shot_scale", "camera", "action", "effects"]


def image_facts(index: pd.DataFrame, poses: pd.DataFrame, instances: pd.DataFrame, structure: pd.DataFrame | None,
                tracks: pd.DataFrame | None, actions: pd.DataFrame | None,
                effects: pd.DataFrame | None) -> list[CaptionFacts]:
    """Per character instance of `index` (the characters index): its pose bucket, its shot's scale and camera
    movement, the action of the track it is on at its time, and the effects on screen in its frame."""
    bucket = dict(zip(poses["instance_id"], poses["bucket"]))
    inst = instances.set_index("instance_id")
    shot_info = structure.set_index("shot_id") if structure is not None and len(structure) else None
    track_of = {}
    if tracks is not None:
        for t in tracks.itertuples():
            for iid in json.loads(t.instance_ids) if isinstance(t.instance_ids, str) else (t.instance_ids or []):
                track_of[iid] = t.track_id
    facts = []
    for r in index.itertuples():
        f = CaptionFacts(r.character, bucket.get(r.id))
        if r.id in inst.index:
            i = inst.loc[r.id]
            shot, frame, t = int(i["shot_id"]), int(i["frame_index"]), float(i["time"])
            if shot_info is not None and shot in shot_info.index:
                f.shot_scale, f.camera = str(shot_info.loc[shot, "scale"]), str(shot_info.loc[shot, "camera"])
            if actions is not None and r.id in track_of:
                a = actions[(actions["track_id"] == track_of[r.id]) & (actions["start_time"] <= t)
                            & (actions["end_time"] >= t)]
                f.action = str(a.iloc[0]["action"]) if len(a) else None
            if effects is not None and len(effects):
                e = effects[(effects["shot_id"] == shot) & (effects["start_frame"] <= frame)
                            & (effects["end_frame"] >= frame)]
                f.effects = sorted(set(e["type"].astype(str)))
        facts.append(f)
    return facts


def caption_images(index: pd.DataFrame, facts: list[CaptionFacts], load_rgba, captioner: Captioner,
                   count: TokenCounter, config: TrainingConfig, batch: int = 16,
                   progress: Progress = NO_PROGRESS) -> pd.DataFrame:
    """One caption per image of `index`: prefix, trigger, the captioner's words, fitted to the token range.
    `progress` hears of the images captioned, a batch at a time."""
    rows = []
    task = progress.task("captions", len(index), "images")
    for start in range(0, len(index), batch):
        part = index.iloc[start:start + batch]
        images = [load_rgba(p) for p in part["path"]]
        bodies = captioner(images, facts[start:start + batch], config.caption_prompt)
        for r, f, body in zip(part.itertuples(), facts[start:start + batch], bodies):
            c = caption([config.caption_prefix, trigger_word(config.trigger_words, r.character)], body,
                        captioner.method, count, config.min_caption_tokens, config.max_caption_tokens)
            rows.append({"character": r.character, "instance_id": r.id, "path": r.path, "caption": c.text,
                         "method": c.method, "tokens": c.tokens, "within_range": c.within_range,
                         "truncated": c.truncated, "token_counter": count.name, "bucket": f.bucket,
                         "shot_scale": f.shot_scale, "camera": f.camera, "action": f.action,
                         "effects": json.dumps(f.effects)})
        task.advance(len(part))
    task.finish()
    return pd.DataFrame(rows, columns=CAPTION_COLUMNS)
