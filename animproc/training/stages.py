"""The training stages of a film: captions -> lora_dataset -> lora_evaluation, each reading through a
`FilmProducts` reader and writing one product through its `ProductWriter`."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from animproc.catalogue import FilmProducts, ProductWriter
from animproc.config import FilmConfig
from animproc.image.preview import encode_image, read_image
from animproc.models import Captioner, FaceAnalyzer, ImageGenerator
from animproc.progress import NO_PROGRESS, Progress
from animproc.training.captions import TokenCounter, caption_images, image_facts, token_lengths_summary
from animproc.training.evaluation import (ClipScorer, checkpoints_in, choose_best, grid, medoid,
                                          render_and_score)
from animproc.training.lora_dataset import candidates, write_lora_dataset


def rgba_reader(products: FilmProducts):
    return lambda path: read_image(products.resolve(path), cv2.IMREAD_UNCHANGED)


def caption_stage(products: FilmProducts, config: FilmConfig, captioner: Captioner,
                  count: TokenCounter, progress: Progress = NO_PROGRESS) -> tuple[pd.DataFrame, dict]:
    """A caption for every reviewed character instance, and the length distribution per character."""
    index = products.table("characters")
    index = index[index["kind"] == "instance"].reset_index(drop=True)
    facts = image_facts(index, products.table("pose_subclusters"), products.table("instances_inpainted"),
                        products.table("shot_structure"), products.table("motion", "tracks"),
                        products.table("motion", "actions"), products.table("effects_catalog", "effects"))
    table = caption_images(index, facts, rgba_reader(products), captioner, count, config.training,
                           progress=progress)
    summary = {"method": captioner.method, "token_counter": count.name,
               "characters": {c: {"captions": len(g), "within_range": int(g["within_range"].sum()),
                                  "truncated": int(g["truncated"].sum()),
                                  "tokens": token_lengths_summary(g["tokens"].tolist())}
                              for c, g in table.groupby("character")}}
    return table, summary


def dataset_stage(products: FilmProducts, config: FilmConfig, out: ProductWriter,
                  base_model: str | None, progress: Progress = NO_PROGRESS
                  ) -> tuple[pd.DataFrame, dict, dict[str, bytes]]:
    load = rgba_reader(products)
    per = candidates(products.table("captions"), products.table("pose_subclusters"), products.table("faces"), load,
                     progress)
    return write_lora_dataset(per, load, config, out, base_model, progress)


def character_references(products: FilmProducts, triggers: dict[str, str]) -> dict[str, tuple[str, np.ndarray | None]]:
    """Per character of the dataset: its trigger and the medoid of its reviewed faces' embeddings."""
    index = products.table("characters")
    faces = products.table("faces").set_index("face_id")
    out = {}
    for name, trigger in triggers.items():
        ids = [i for i in index[(index["character"] == name) & (index["kind"] == "face")]["id"] if i in faces.index]
        emb = np.stack([np.asarray(e, np.float32) for e in faces.loc[ids, "embedding"]]) if ids else np.zeros((0, 1))
        out[name] = (trigger, medoid(emb))
    return out


def resolve_checkpoints(folder: str, config_path: str | None) -> Path:
    path = Path(folder)
    return path if path.is_absolute() or config_path is None else Path(config_path).parent / path


def evaluation_stage(products: FilmProducts, config: FilmConfig, config_path: str | None, out: ProductWriter,
                     generator: ImageGenerator, analyzer: FaceAnalyzer,
                     clip: ClipScorer | None, progress: Progress = NO_PROGRESS
                     ) -> tuple[pd.DataFrame, dict, dict[str, bytes]]:
    """Scores, the summary (best checkpoint and reasons, or why nothing was evaluated) and a grid per
    character (checkpoint x prompt)."""
    t = config.training
    skipped = None
    if not generator.ready:
        skipped = generator.status
    elif not t.checkpoints:
        skipped = "no checkpoints folder configured (training.checkpoints in the film config)"
    checkpoints = [] if skipped else checkpoints_in(resolve_checkpoints(t.checkpoints, config_path))
    if not skipped and not checkpoints:
        skipped = f"no *.safetensors in {resolve_checkpoints(t.checkpoints, config_path)}"
    triggers = {c: s["trigger"] for c, s in products.json("lora_dataset", "summary")["characters"].items()}
    refs = character_references(products, triggers)  # read even when skipped: the summary names them
    if not skipped and not triggers:
        skipped = "no character has a training subset in lora_dataset"
    if skipped:
        empty = pd.DataFrame(columns=["character", "checkpoint", "prompt", "seed", "image", "faces", "identity",
                                      "clip_score", "sharpness", "corrupt"])
        summary = {"skipped": skipped, "generator": generator.name,
                   "references": {n: r is not None for n, (_, r) in refs.items()}}
        out.table("scores", empty.astype({"seed": int, "faces": int, "corrupt": bool}))
        out.json("summary", summary)
        return empty, summary, {}
    scores, cells = render_and_score(generator, checkpoints, refs, t.eval_prompts, t.eval_seeds, t.eval_steps,
                                     t.eval_size, analyzer, clip,
                                     lambda file, bgr: out.blob(file, encode_image(bgr, ".png")), progress)
    grids = {name: grid(per, t.eval_prompts) for name, per in cells.items()}
    for name, data in grids.items():
        out.blob(f"grids/{name}.jpg", data)
    summary = {"generator": generator.name, "checkpoints": [c.name for c in checkpoints],
               "prompts": t.eval_prompts, "seeds": t.eval_seeds, "clip": clip is not None,
               "per_character": {name: choose_best(g) for name, g in scores.groupby("character")},
               **choose_best(scores)}
    out.table("scores", scores)
    out.json("summary", summary)
    return scores, summary, grids
