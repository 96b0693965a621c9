"""Per-character LoRA training sets: the best images of each character, near-duplicates removed, balanced
across pose buckets and their sub-clusters, as RGBA PNGs (the character's own soft alpha) with a caption file
beside each, a kohya dataset config with one subset per character, a training config, and a `metadata.jsonl`
for Hugging Face `imagefolder` loaders. Nothing is mirrored or recoloured (see `kohya`), and a character with
fewer usable images than the film's minimum is listed with the reason instead of being padded."""
from __future__ import annotations

import json
from dataclasses import dataclass

import cv2
import numpy as np
import pandas as pd

from animproc.catalogue import ProductWriter
from animproc.config import FilmConfig
from animproc.identity.poses import balanced_sample
from animproc.image.dedup import deduplicate
from animproc.image.hashing import dhash, phash
from animproc.image.preview import encode_image
from animproc.training.captions import on_grey, trigger_word
from animproc.training.kohya import Subset, dataset_toml, repeats, training_toml

IMAGE_COLUMNS = ["character", "instance_id", "file", "caption", "tokens", "bucket", "subcluster", "sharpness",
                 "face_size", "quality", "source_path"]


@dataclass
class Candidate:
    instance_id: str
    path: str
    caption: str
    tokens: int
    bucket: str
    subcluster: int
    sharpness: float
    face_size: float
    phash: int
    dhash: int
    thumb: np.ndarray  # 64x64 gray, for SSIM on borderline pairs


def sharpness(rgba: np.ndarray) -> float:
    """Laplacian variance inside the character (alpha eroded, so the cutout's own edge does not count)."""
    inside = cv2.erode((rgba[..., 3] > 127).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    if inside.sum() < 16:
        return 0.0
    lap = cv2.Laplacian(cv2.cvtColor(rgba[..., :3], cv2.COLOR_BGR2GRAY), cv2.CV_64F)
    return float(lap[inside].var())


def quality_scores(cands: list[Candidate]) -> np.ndarray:
    """Best first by sharpness and face size: the mean of their percentile ranks within the character."""
    if not cands:
        return np.zeros(0)
    ranks = [pd.Series(v).rank(pct=True).to_numpy() for v in
             ([c.sharpness for c in cands], [c.face_size for c in cands])]
    return (ranks[0] + ranks[1]) / 2


def cut_alpha(rgba: np.ndarray, threshold: float) -> np.ndarray:
    """The soft alpha kept, with everything below the film's alpha threshold made fully transparent."""
    out = rgba.copy()
    out[..., 3][out[..., 3] < round(threshold * 255)] = 0
    return out


def distinct(cands: list[Candidate], quality: np.ndarray, config: FilmConfig) -> tuple[list[int], int]:
    """Positions of the candidates left after near-duplicate removal with the film's dedup hashes (pHash +
    dHash, SSIM for borderline pairs), best kept; and how many were dropped."""
    d = config.dedup
    decisions = deduplicate([c.phash for c in cands], [c.dhash for c in cands], quality, lambda i: cands[i].thumb,
                            d.hash_distance, d.borderline_distance, d.ssim_threshold)
    kept = [i for i, dec in enumerate(decisions) if dec.keep]
    return kept, len(cands) - len(kept)


def choose(cands: list[Candidate], config: FilmConfig) -> tuple[list[int], dict]:
    """The chosen positions (best first, balanced over buckets and sub-clusters) and the character's summary;
    an empty choice when fewer usable images than `min_images` remain, with the reason."""
    t = config.training
    quality = quality_scores(cands)
    kept, duplicates = distinct(cands, quality, config)
    summary = {"candidates": len(cands), "near_duplicates": duplicates, "usable": len(kept)}
    if len(kept) < t.min_images:
        summary["left_out"] = (f"{len(kept)} usable images ({len(cands)} found, {duplicates} near-duplicates "
                               f"removed), fewer than the minimum of {t.min_images}; not padded")
        return [], summary
    order = balanced_sample([cands[i].bucket for i in kept], [cands[i].subcluster for i in kept],
                            quality[kept], t.max_images)
    return [kept[i] for i in order], summary


def candidates(captions: pd.DataFrame, poses: pd.DataFrame, faces: pd.DataFrame, load_rgba) -> dict[str, list]:
    """Every captioned instance per character with its pose, sub-cluster, sharpness, largest face and hashes
    (of the cutout on mid grey, so the background does not make two poses alike); images are not kept."""
    pose = poses.set_index("instance_id")
    face_size = faces.dropna(subset=["instance_id"]).groupby("instance_id")["size"].max().to_dict()
    out: dict[str, list[Candidate]] = {}
    for r in captions.itertuples():
        rgba = load_rgba(r.path)
        gray = cv2.cvtColor(on_grey(rgba), cv2.COLOR_BGR2GRAY)
        p = pose.loc[r.instance_id] if r.instance_id in pose.index else None
        out.setdefault(r.character, []).append(Candidate(
            r.instance_id, r.path, r.caption, int(r.tokens), str(p["bucket"]) if p is not None else "unknown",
            int(p["subcluster"]) if p is not None else -1, sharpness(rgba),
            float(face_size.get(r.instance_id, 0.0)), phash(gray), dhash(gray),
            cv2.resize(gray, (64, 64), interpolation=cv2.INTER_AREA)))
    return out


def _folder(character: str) -> str:
    return f"{character}/images"


def write_lora_dataset(per_character: dict[str, list[Candidate]], load_rgba, config: FilmConfig,
                       out: ProductWriter, base_model: str | None = None) -> tuple[pd.DataFrame, dict]:
    """Choose and write every character's subset, the TOMLs and metadata.jsonl. Returns the images table and
    the summary (per character: counts, bucket balance, repeats, or the reason it was left out)."""
    t = config.training
    rows, summary, subsets, meta = [], {"characters": {}, "left_out": {}}, [], []
    for character in sorted(per_character):
        cands = per_character[character]
        chosen, info = choose(cands, config)
        trigger = trigger_word(t.trigger_words, character)
        quality = quality_scores(cands)
        if not chosen:
            summary["left_out"][character] = info["left_out"]
            continue
        for k, i in enumerate(chosen):
            c = cands[i]
            name = f"{_folder(character)}/{k:04d}"
            out.blob(f"{name}.png", encode_image(cut_alpha(load_rgba(c.path), config.instances.alpha_threshold), ".png"))
            out.blob(f"{name}.txt", c.caption.encode())
            meta.append({"file_name": f"{name}.png", "text": c.caption, "character": character})
            rows.append({"character": character, "instance_id": c.instance_id, "file": out.relative(f"{name}.png"),
                         "caption": c.caption, "tokens": c.tokens, "bucket": c.bucket, "subcluster": c.subcluster,
                         "sharpness": round(c.sharpness, 2), "face_size": round(c.face_size, 2),
                         "quality": round(float(quality[i]), 4), "source_path": c.path})
        picked = [cands[i] for i in chosen]
        info.update({"chosen": len(chosen), "trigger": trigger,
                     "buckets": _counts([c.bucket for c in picked]),
                     "subclusters": len({(c.bucket, c.subcluster) for c in picked})})
        summary["characters"][character] = info
        subsets.append(Subset(character, _folder(character), trigger, len(chosen)))
    reps = repeats({s.character: s.images for s in subsets})
    for s in subsets:
        summary["characters"][s.character]["num_repeats"] = reps[s.character]
    out.text("dataset", dataset_toml(subsets, t))
    out.text("training", training_toml(t, f"{out.film}_lora", base_model=base_model))
    out.text("metadata", "".join(json.dumps(m) + "\n" for m in meta))
    out.json("summary", summary)
    return pd.DataFrame(rows, columns=IMAGE_COLUMNS), summary


def _counts(values: list[str]) -> dict[str, int]:
    names, counts = np.unique(values, return_counts=True)
    return {str(n): int(c) for n, c in zip(names, counts)}
