"""Per-character LoRA training sets: the best images of each character, near-duplicates removed, balanced
across pose buckets and their sub-clusters, as RGBA PNGs (the character's own soft alpha) with a caption file
beside each, a kohya dataset config with one subset per character, a training config, and a `metadata.jsonl`
for Hugging Face `imagefolder` loaders. Nothing is mirrored or recoloured (see `kohya`), and a character with
fewer usable images than the film's minimum is listed with the reason instead of being padded."""
from __future__ import annotations

import json
import shutil
import tomllib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import tomli_w

from animproc.catalogue import ProductWriter
from animproc.config import FilmConfig
from animproc.errors import AnimprocError
from animproc.identity.poses import balanced_sample
from animproc.image.dedup import deduplicate
from animproc.image.hashing import dhash, phash
from animproc.image.preview import contact_sheet, encode_image, on_checkerboard
from animproc.progress import NO_PROGRESS, Progress
from animproc.training.captions import on_grey, trigger_word
from animproc.training.kohya import Subset, dataset_toml, repeats, training_toml

SHEET_SIZE = 48
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


def candidates(captions: pd.DataFrame, poses: pd.DataFrame, faces: pd.DataFrame, load_rgba,
               progress: Progress = NO_PROGRESS) -> dict[str, list]:
    """Every captioned instance per character with its pose, sub-cluster, sharpness, largest face and hashes
    (of the cutout on mid grey, so the background does not make two poses alike); images are not kept.
    `progress` hears of the images measured."""
    pose = poses.set_index("instance_id")
    face_size = faces.dropna(subset=["instance_id"]).groupby("instance_id")["size"].max().to_dict()
    out: dict[str, list[Candidate]] = {}
    task = progress.task("candidates", len(captions), "images")
    for r in captions.itertuples():
        task.advance()
        rgba = load_rgba(r.path)
        gray = cv2.cvtColor(on_grey(rgba), cv2.COLOR_BGR2GRAY)
        p = pose.loc[r.instance_id] if r.instance_id in pose.index else None
        out.setdefault(r.character, []).append(Candidate(
            r.instance_id, r.path, r.caption, int(r.tokens), str(p["bucket"]) if p is not None else "unknown",
            int(p["subcluster"]) if p is not None else -1, sharpness(rgba),
            float(face_size.get(r.instance_id, 0.0)), phash(gray), dhash(gray),
            cv2.resize(gray, (64, 64), interpolation=cv2.INTER_AREA)))
    task.finish()
    return out


def _folder(character: str) -> str:
    return f"{character}/images"


def write_lora_dataset(per_character: dict[str, list[Candidate]], load_rgba, config: FilmConfig,
                       out: ProductWriter, base_model: str | None = None,
                       progress: Progress = NO_PROGRESS) -> tuple[pd.DataFrame, dict, dict]:
    """Choose and write every character's subset, the TOMLs and metadata.jsonl. Returns the images table, the
    summary (per character: counts, bucket balance, repeats, or the reason it was left out) and a contact sheet
    (JPEG) of each character's chosen images, also stored as `{character}/sheet.jpg`. `progress` hears of the
    candidate images chosen from, a character at a time."""
    t = config.training
    rows, summary, subsets, meta, sheets = [], {"characters": {}, "left_out": {}}, [], [], {}
    task = progress.task("subsets", sum(len(c) for c in per_character.values()), "images")
    for character in sorted(per_character):
        cands = per_character[character]
        task.advance(len(cands))
        chosen, info = choose(cands, config)
        trigger = trigger_word(t.trigger_words, character)
        quality = quality_scores(cands)
        if not chosen:
            summary["left_out"][character] = info["left_out"]
            continue
        thumbs = []
        for k, i in enumerate(chosen):
            c = cands[i]
            name = f"{_folder(character)}/{k:04d}"
            rgba = cut_alpha(load_rgba(c.path), config.instances.alpha_threshold)
            out.blob(f"{name}.png", encode_image(rgba, ".png"))
            if k < SHEET_SIZE:
                thumbs.append(on_checkerboard(rgba))
            out.blob(f"{name}.txt", c.caption.encode())
            meta.append({"file_name": f"{name}.png", "text": c.caption, "character": character})
            rows.append({"character": character, "instance_id": c.instance_id, "file": out.relative(f"{name}.png"),
                         "caption": c.caption, "tokens": c.tokens, "bucket": c.bucket, "subcluster": c.subcluster,
                         "sharpness": round(c.sharpness, 2), "face_size": round(c.face_size, 2),
                         "quality": round(float(quality[i]), 4), "source_path": c.path})
        sheets[character] = encode_image(contact_sheet(thumbs, [cands[i].bucket for i in chosen[:SHEET_SIZE]],
                                                       thumb_width=96, columns=8))
        out.blob(f"{character}/sheet.jpg", sheets[character])
        picked = [cands[i] for i in chosen]
        info.update({"chosen": len(chosen), "trigger": trigger,
                     "buckets": _counts([c.bucket for c in picked]),
                     "subclusters": len({(c.bucket, c.subcluster) for c in picked})})
        summary["characters"][character] = info
        subsets.append(Subset(character, _folder(character), trigger, len(chosen)))
    task.finish()
    reps = repeats({s.character: s.images for s in subsets})
    for s in subsets:
        summary["characters"][s.character]["num_repeats"] = reps[s.character]
    out.text("dataset", dataset_toml(subsets, t))
    out.text("training", training_toml(t, f"{out.film}_lora", base_model=base_model))
    out.text("metadata", "".join(json.dumps(m) + "\n" for m in meta))
    summary["training"] = t.model_dump(include={"resolution", "network_dim", "network_alpha", "learning_rate",
                                                "max_train_steps", "train_batch_size"})
    out.json("summary", summary)
    table = pd.DataFrame(rows, columns=IMAGE_COLUMNS)
    out.table("images", table)
    return table, summary, sheets


def _counts(values: list[str]) -> dict[str, int]:
    names, counts = np.unique(values, return_counts=True)
    return {str(n): int(c) for n, c in zip(names, counts)}


def export_character(products, character: str, output: Path, base_model: str | None = None) -> int:
    """One character's subset where a trainer expects it: `output/images/` (PNG + .txt), `dataset.toml` and
    `training.toml` with absolute paths (kohya resolves relative ones against its working directory), and
    `metadata.jsonl`. Written beside `output` and moved into place, so a failed export leaves nothing. Returns
    the number of images."""
    from animproc.config import TrainingConfig

    summary = products.json("lora_dataset", "summary")
    if character not in summary["characters"]:
        why = summary["left_out"].get(character)
        known = ", ".join(sorted(summary["characters"])) or "none"
        raise LoraExportError(f"{products.film}/lora_dataset has no subset for {character!r}"
                              + (f": {why}" if why else f" (characters with a subset: {known})"))
    if output.exists() and any(output.iterdir()):
        raise LoraExportError(f"{output}: exists and is not empty")
    table = products.table("lora_dataset", "images")
    table = table[table["character"] == character]
    info = summary["characters"][character]
    staging = output.parent / f".{output.name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "images").mkdir(parents=True)
    try:
        meta = []
        for k, r in enumerate(table.itertuples()):
            (staging / "images" / f"{k:04d}.png").write_bytes(products.resolve(r.file).read_bytes())
            (staging / "images" / f"{k:04d}.txt").write_text(r.caption)
            meta.append({"file_name": f"images/{k:04d}.png", "text": r.caption, "character": character})
        final = output.resolve()
        config = TrainingConfig(**summary.get("training", {}))
        (staging / "dataset.toml").write_text(dataset_toml(
            [Subset(character, str(final / "images"), info["trigger"], len(table))], config))
        training = tomllib.loads(training_toml(config, f"{products.film}_{character}", str(final / "dataset.toml"),
                                               base_model))
        training["output_dir"] = str(final / "checkpoints")
        (staging / "training.toml").write_text(tomli_w.dumps(training))
        (staging / "metadata.jsonl").write_text("".join(json.dumps(m) + "\n" for m in meta))
        if output.exists():
            output.rmdir()
        staging.rename(output)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return len(table)


class LoraExportError(AnimprocError):
    """A LoRA subset that cannot be exported as asked."""
