"""`animproc export lora FILM CHARACTER --output DIR`: one character's LoRA training set where a trainer
expects it (images with captions, kohya dataset and training TOMLs with absolute paths, metadata.jsonl)."""
from __future__ import annotations

from pathlib import Path

from animproc_dagster.cli.common import _fail, _products


def add_export_lora(export) -> None:
    """Registers the verb under `animproc export`."""
    lora = export.add_parser("lora", help="one character's LoRA training set (kohya TOMLs, PNG + captions)")
    lora.add_argument("name", help="the film")
    lora.add_argument("character", help="a character with a subset in the film's lora_dataset")
    lora.add_argument("--output", "-o", required=True, help="folder to write (new or empty)")
    lora.set_defaults(func=cmd_export_lora)


def cmd_export_lora(args) -> int:
    import os

    from animproc.training.lora_dataset import export_character

    products = _products(args.name)
    if not products.has("lora_dataset", "images"):
        return _fail(f"film {args.name!r} has no lora_dataset yet; "
                     f"run `animproc run {args.name} --select lora_dataset`")
    n = export_character(products, args.character, Path(args.output), os.environ.get("ANIMPROC_BASE_MODEL"))
    print(f"wrote {n} images of {args.character} with dataset.toml and training.toml to {args.output}")
    return 0
