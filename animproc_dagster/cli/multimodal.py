"""`animproc export dataset` and `animproc timeline`: a film's datasets and its timeline in portable formats."""
from __future__ import annotations

import sys
from pathlib import Path

from animproc_dagster.cli.common import _fail, _products

TASKS = ["character_multimodal", "scene_understanding", "action_recognition", "emotion_analysis"]  # datasets.tasks


def cmd_export_dataset(args) -> int:
    from animproc.datasets.export import export_dataset

    rows = export_dataset(_products(args.name), args.task, args.format, Path(args.output), args.overwrite)
    print(f"wrote {sum(rows.values())} rows ({', '.join(f'{s} {n}' for s, n in rows.items())}) of "
          f"{args.name}'s {args.task} dataset as {args.format} to {args.output}")
    return 0


def _timeline_table(products, slice_seconds: float | None):
    """The stored shot table; with `slice_seconds`, the stored slice table when it has that width, else slices
    built now from the same products."""
    import json

    from animproc.timeline import build_timeline, timeline_inputs

    stored = products.has("film_timeline", "shots")
    if slice_seconds is None:
        if not stored:
            raise SystemExit(_fail(f"film {products.film!r} has no film_timeline yet; run `animproc run "
                                   f"{products.film} --select film_timeline` (or pass --slice to build slices now)"))
        return products.table("film_timeline", "shots")
    if slice_seconds <= 0:
        raise SystemExit(_fail(f"--slice must be positive, got {slice_seconds}"))
    if stored and abs(json.loads(products.file("film_timeline", "summary").read_text())["slice_seconds"]
                      - slice_seconds) < 1e-9:
        return products.table("film_timeline", "slices")
    if not products.has("shot_structure"):
        raise SystemExit(_fail(f"film {products.film!r} has no shot_structure yet; run `animproc run "
                               f"{products.film} --select film_timeline`"))
    return build_timeline(timeline_inputs(products, slice_seconds), slice_seconds)[1]


def cmd_timeline(args) -> int:
    table = _timeline_table(_products(args.name), args.slice)
    if args.format == "parquet":
        if not args.output:
            return _fail("--format parquet needs --output FILE")
        table.to_parquet(args.output, index=False)
    elif args.output:
        table.to_csv(args.output, index=False)
    else:
        table.to_csv(sys.stdout, index=False)
        return 0
    print(f"wrote {len(table)} {'slices' if args.slice else 'shots'} to {args.output}")
    return 0


def register(sub, export) -> None:
    """Add `export dataset` to the `export` verbs and `timeline` to the commands."""
    dataset = export.add_parser("dataset", help="a film's dataset of one task: Hugging Face, Parquet or WebDataset")
    dataset.add_argument("name")
    dataset.add_argument("--task", required=True, choices=TASKS)
    dataset.add_argument("--format", choices=["hf", "parquet", "webdataset"], default="parquet")
    dataset.add_argument("--output", "-o", required=True, help="folder to write (refused when not empty)")
    dataset.add_argument("--overwrite", action="store_true", help="replace a non-empty output folder")
    dataset.set_defaults(func=cmd_export_dataset)
    timeline = sub.add_parser("timeline", help="a film's timeline: one row per shot, or per slice with --slice")
    timeline.add_argument("name")
    timeline.add_argument("--slice", type=float, help="seconds per row (e.g. 0.1) instead of one row per shot")
    timeline.add_argument("--format", choices=["parquet", "csv"], default="csv")
    timeline.add_argument("--output", "-o", help="file to write (default: CSV on standard output)")
    timeline.set_defaults(func=cmd_timeline)
