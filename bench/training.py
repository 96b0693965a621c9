"""Captions (template captioner, the approximate token counter) and LoRA dataset building per 1,000 images:
generated RGBA character cutouts (384x256, a textured figure with a soft edge, some near-duplicates) stored as
a film's `characters` product, captioned, then chosen, deduplicated and written with the kohya TOMLs. Prints
seconds per 1,000 images for each stage and the peak RSS of the process.

    PYTHONPATH=. python bench/training.py [--images 1000] [--characters 2]
"""
from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from animproc.catalogue import FilmProducts
from animproc.config import FilmConfig, TrainingConfig
from animproc.identity.poses import BUCKETS
from animproc.image.preview import encode_image
from animproc.storage import Storage
from animproc.training.captions import ApproximateTokenCounter, CaptionFacts, TemplateCaptioner, caption_images
from animproc.training.lora_dataset import candidates, write_lora_dataset
from animproc.training.stages import rgba_reader


def figure(seed: int, h: int = 384, w: int = 256) -> np.ndarray:
    """A character-like cutout: a textured ellipse body and head in two colours, soft alpha."""
    rng = np.random.default_rng(seed // 3)  # every third image a near-duplicate of the one before
    img = np.zeros((h, w, 4), np.uint8)
    colour = rng.integers(30, 230, 3)
    tex = cv2.resize(rng.integers(0, 60, (h // 16, w // 16, 1), dtype=np.uint8), (w, h))[..., None]
    img[..., :3] = np.clip(colour + tex - 30, 0, 255)
    alpha = np.zeros((h, w), np.uint8)
    cv2.ellipse(alpha, (w // 2, int(h * 0.62)), (w // 3, int(h * 0.33)), 0, 0, 360, 255, -1)
    cv2.circle(alpha, (w // 2 + int(rng.integers(-20, 20)), int(h * 0.2)), w // 6, 255, -1)
    img[..., 3] = cv2.GaussianBlur(alpha, (7, 7), 2)
    if seed % 3:
        img[..., :3] = np.clip(img[..., :3].astype(int) + seed % 3, 0, 255).astype(np.uint8)
    return img


def stored_characters(st: Storage, film: str, n: int, characters: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows, poses = [], []
    with FilmProducts(st, film).publish("characters") as out:
        for k in range(n):
            name = f"character_{k % characters:02d}"
            path = out.blob(f"{name}/instances/{k:05d}.png", encode_image(figure(k), ".png"))
            rows.append({"character": name, "kind": "instance", "id": f"i{k:05d}", "cluster": "0", "path": path,
                         "decision": "bench"})
            poses.append({"instance_id": f"i{k:05d}", "bucket": BUCKETS[k % 4], "subcluster": k % 3})
        index = pd.DataFrame(rows)
        out.table("index", index)
    return index, pd.DataFrame(poses)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--characters", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        st = Storage(Path(tmp))
        index, poses = stored_characters(st, "bench", args.images, args.characters)
        products = FilmProducts(st, "bench")
        config = FilmConfig(training=TrainingConfig(min_images=50, max_images=500))
        facts = [CaptionFacts(r.character, poses["bucket"][k], "medium", "static", "walking", ["snow"])
                 for k, r in enumerate(index.itertuples())]
        t = time.perf_counter()
        caps = caption_images(index, facts, rgba_reader(products), TemplateCaptioner(), ApproximateTokenCounter(),
                              config.training)
        caption_s = time.perf_counter() - t
        faces = pd.DataFrame({"instance_id": index["id"], "size": np.linspace(8, 40, len(index))})
        t = time.perf_counter()
        per = candidates(caps, poses, faces, rgba_reader(products))
        with products.publish("lora_dataset") as out:
            table, summary, _ = write_lora_dataset(per, rgba_reader(products), config, out)
        dataset_s = time.perf_counter() - t
    per_k = 1000 / args.images
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{args.images} images of {args.characters} characters (384x256 RGBA)")
    print(f"captions (template): {caption_s * per_k:.1f} s per 1,000 images; tokens "
          f"{caps['tokens'].min()}-{caps['tokens'].max()}, within range {int(caps['within_range'].sum())}")
    print(f"lora_dataset: {dataset_s * per_k:.1f} s per 1,000 images; chosen {len(table)}, near-duplicates "
          f"removed {sum(c['near_duplicates'] for c in summary['characters'].values())}")
    print(f"peak RSS {rss:.0f} MB")


if __name__ == "__main__":
    main()
