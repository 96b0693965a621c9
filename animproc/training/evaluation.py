"""Checkpoint evaluation: every LoRA checkpoint renders the film's fixed prompts (with each character's
trigger) at fixed seeds, and each image is scored.

- identity: cosine similarity of the largest generated face to the character's reviewed medoid, in the
  platform's own face embedding (the offline stand-in for CCIP);
- clip_score: 100 x cosine of the image and prompt CLIP embeddings, when a local CLIP is configured;
- corruption: faces found and sharpness; an image is corrupt when it is flat, blurred or shows more than one
  face for a one-character prompt.

The best checkpoint is chosen by `SCORE_WEIGHTS`: fidelity first (0.6), prompt following second (0.3), clean
images last (0.1, the share not corrupt); a term nothing measured is left out and the others renormalised,
and the summary says which."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from animproc.errors import ModelError
from animproc.image.preview import contact_sheet, encode_image
from animproc.models import FaceAnalyzer, ImageGenerator
from animproc.progress import NO_PROGRESS, Progress

SCORE_WEIGHTS = {"identity": 0.6, "clip_score": 0.3, "clean": 0.1}
FLAT_STD, BLUR_SHARPNESS = 6.0, 15.0
SCORE_COLUMNS = ["character", "checkpoint", "prompt", "seed", "image", "faces", "identity", "clip_score",
                 "sharpness", "corrupt"]


def checkpoints_in(folder: str | Path) -> list[Path]:
    path = Path(folder)
    if not path.is_dir():
        raise ModelError(path, "the checkpoints folder does not exist")
    return sorted(path.glob("*.safetensors"))


def medoid(embeddings: np.ndarray) -> np.ndarray | None:
    """The embedding with the highest mean similarity to the others (the character's most typical face)."""
    if len(embeddings) == 0:
        return None
    unit = embeddings / np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-9)
    return unit[int(np.argmax((unit @ unit.T).mean(axis=1)))]


def image_sharpness(bgr: np.ndarray) -> float:
    return float(cv2.Laplacian(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var())


@dataclass
class ImageScore:
    faces: int
    identity: float | None
    sharpness: float
    corrupt: bool


def score_image(bgr: np.ndarray, analyzer: FaceAnalyzer, reference: np.ndarray | None) -> ImageScore:
    found = analyzer(bgr)
    identity = None
    if found and reference is not None:
        face = max(found, key=lambda f: f.size)
        e = np.asarray(face.embedding, np.float32)
        identity = float(e @ reference / max(float(np.linalg.norm(e)), 1e-9))
    sharp = image_sharpness(bgr)
    flat = float(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY).std()) < FLAT_STD
    return ImageScore(len(found), identity, sharp, flat or sharp < BLUR_SHARPNESS or len(found) > 1)


class ClipScorer:
    """CLIP score with a transformers CLIPModel + CLIPProcessor from a local folder."""

    def __init__(self, folder: str, device: str = "auto"):
        import torch
        from transformers import CLIPModel, CLIPProcessor

        if not (Path(folder) / "config.json").exists():
            raise ModelError(folder, "no CLIP model here (config.json missing)")
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = device
        self.model = CLIPModel.from_pretrained(folder).to(self.device).eval()
        self.processor = CLIPProcessor.from_pretrained(folder)

    def __call__(self, bgr: np.ndarray, prompt: str) -> float:
        import torch

        inputs = self.processor(text=[prompt], images=[bgr[..., ::-1].copy()], return_tensors="pt", padding=True,
                                truncation=True).to(self.device)
        with torch.inference_mode():
            out = self.model(**inputs)
        i = torch.nn.functional.normalize(out.image_embeds, dim=-1)
        t = torch.nn.functional.normalize(out.text_embeds, dim=-1)
        return float(max(0.0, 100 * (i * t).sum()))


def render_and_score(generator: ImageGenerator, checkpoints: list[Path],
                     characters: dict[str, tuple[str, np.ndarray | None]], prompts: list[str], seeds: list[int], steps: int, size: int, analyzer: FaceAnalyzer,
                     clip: ClipScorer | None, save, progress: Progress = NO_PROGRESS) -> tuple[pd.DataFrame, dict]:
    """Every checkpoint x character x prompt x seed rendered and scored. `characters`: name -> (trigger,
    reference embedding); `save(file, bgr)` stores an image and returns its stored path. Returns the scores
    and, per character, the images as grid cells {checkpoint: {prompt: bgr at the first seed}}. `progress`
    hears of the images rendered."""
    rows, cells = [], {}
    task = progress.task("render", len(checkpoints) * len(characters) * len(prompts) * len(seeds), "images")
    for ckpt in checkpoints:
        generator.use(str(ckpt))
        for name, (trigger, reference) in characters.items():
            for k, template in enumerate(prompts):
                prompt = template.format(trigger=trigger)
                for seed in seeds:
                    bgr = generator(prompt, seed, steps, size)
                    s = score_image(bgr, analyzer, reference)
                    path = save(f"images/{name}/{ckpt.stem}/p{k}_s{seed}.png", bgr)
                    rows.append({"character": name, "checkpoint": ckpt.name, "prompt": prompt, "seed": seed,
                                 "image": path, "faces": s.faces, "identity": s.identity,
                                 "clip_score": clip(bgr, prompt) if clip else None, "sharpness": round(s.sharpness, 2),
                                 "corrupt": s.corrupt})
                    if seed == seeds[0]:
                        cells.setdefault(name, {}).setdefault(ckpt.name, {})[k] = bgr
                    task.advance()
    task.finish()
    generator.use(None)
    return pd.DataFrame(rows, columns=SCORE_COLUMNS), cells


def grid(cells: dict[str, dict[int, np.ndarray]], prompts: list[str]) -> bytes:
    """The comparison grid: one row per checkpoint, one column per prompt."""
    images, labels = [], []
    for ckpt, row in cells.items():
        for k in range(len(prompts)):
            images.append(row[k])
            labels.append(f"{Path(ckpt).stem} | p{k}")
    return encode_image(contact_sheet(images, labels, columns=len(prompts), thumb_width=160), ".jpg", 90)


def _mean(values: pd.Series) -> float | None:
    v = values.dropna()
    return float(v.mean()) if len(v) else None


def choose_best(scores: pd.DataFrame) -> dict:
    """Per checkpoint its terms and weighted score (terms with no measurement left out, weights renormalised);
    the best checkpoint and the reasons."""
    per = {}
    for ckpt, g in scores.groupby("checkpoint"):
        terms = {"identity": _mean(g["identity"]),
                 "clip_score": None if _mean(g["clip_score"]) is None else _mean(g["clip_score"]) / 100,
                 "clean": float(1 - g["corrupt"].astype(float).mean())}
        used = {k: v for k, v in terms.items() if v is not None}
        weight = sum(SCORE_WEIGHTS[k] for k in used)
        per[ckpt] = {**{k: (None if v is None else round(v, 4)) for k, v in terms.items()},
                     "score": round(sum(SCORE_WEIGHTS[k] * v for k, v in used.items()) / weight, 4),
                     "faces_per_image": round(float(g["faces"].mean()), 3)}
    if not per:
        return {"best": None, "reasons": ["no checkpoints"], "checkpoints": {}}
    best = max(per, key=lambda c: (per[c]["score"], c))
    missing = [k for k in SCORE_WEIGHTS if all(per[c][k] is None for c in per)]
    reasons = [f"highest weighted score {per[best]['score']} (weights {SCORE_WEIGHTS})"]
    for k in ("identity", "clip_score", "clean"):
        if per[best][k] is not None:
            reasons.append(f"{k} {per[best][k]}")
    if missing:
        reasons.append(f"not measured, left out of the score: {', '.join(missing)}")
    return {"best": best, "reasons": reasons, "checkpoints": per}
