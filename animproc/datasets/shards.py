"""Writing one dataset: rows planned as a light table (references, no bytes), split by scene or shot, then
streamed into Hugging Face Parquet files (`data/{split}-{k:05d}-of-{n:05d}.parquet`, the Hub's
layout, with the `datasets` features in the Parquet metadata so `load_dataset("parquet", ...)` gets Image and
Audio columns back), a row group of a few megabytes at a time, so at most one row group's images and audio
are in memory whatever the film's length; the card and the index table come last."""
from __future__ import annotations

import hashlib
import io
import json
import math
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from animproc.progress import NO_PROGRESS, Progress

SPLITS = ("train", "validation", "test")
LINEAGE_COLUMNS = ("film", "source_versions", "review_versions", "models")


@dataclass
class TaskSpec:
    """One dataset type: its features (without lineage), how rows are made, what the card says."""

    name: str  # the asset / product, e.g. dataset_scene_understanding
    task: str  # the CLI's --task, e.g. scene_understanding
    title: str
    summary: str
    task_categories: tuple[str, ...]
    features: Callable[[], dict]  # column -> datasets feature (built lazily: `datasets` imports slowly)
    binary: tuple[str, ...]  # the Image / Audio columns (left out of the index table)


@dataclass
class Plan:
    """A dataset's rows before their bytes are read: one row per example with its split key (`group`)."""

    rows: pd.DataFrame  # scalar columns; must hold `shot_id` and `scene_id`
    load: Callable[[dict], dict]  # a plan row -> its binary columns
    why: dict[str, str] = field(default_factory=dict)  # column or part -> why it is empty


def full_features(spec: TaskSpec):
    from datasets import Features, Value

    return Features({"row_id": Value("string"), "split": Value("string"), **spec.features(),
                     **{c: Value("string") for c in LINEAGE_COLUMNS}})


def _rank(key: str, salt: str) -> str:
    return hashlib.sha256(f"{salt}:{key}".encode()).hexdigest()


def assign_splits(groups: pd.Series, validation: float, test: float, salt: str) -> pd.Series:
    """Whole groups (scenes or shots) to test, validation, then train, in a fixed hashed order, so near-identical
    frames of one scene never straddle two splits and re-running gives the same splits. A group joins a held-out
    split only while that split is under its share and stays under twice it; the last group always stays in
    train (a film of one scene is all train)."""
    sizes = groups.value_counts()
    order = sorted(sizes.index, key=lambda g: _rank(str(g), salt))
    total, split_of, filled = len(groups), {}, {"test": 0, "validation": 0}
    for k, g in enumerate(order):
        remaining, size = len(order) - k - 1, int(sizes[g])
        target = next((s for s, share in (("test", test), ("validation", validation))
                       if share > 0 and filled[s] < share * total and filled[s] + size <= max(2 * share * total, 1)
                       and remaining > 0), "train")
        split_of[g] = target
        if target != "train":
            filled[target] += size
    return groups.map(split_of).astype(str)


def group_keys(rows: pd.DataFrame, split_by: str) -> pd.Series:
    column = "scene_id" if split_by == "scene" else "shot_id"
    return split_by + ":" + rows[column].astype(int).astype(str)


def _shard_name(split: str, k: int, n: int) -> str:
    return f"data/{split}-{k:05d}-of-{n:05d}.parquet"


def _payload(record: dict) -> int:
    """Bytes of a record's images and audio (what makes a shard big)."""
    return sum(len(v["bytes"]) for v in record.values() if isinstance(v, dict) and isinstance(v.get("bytes"), bytes))


@dataclass
class ShardBudget:
    """When a shard closes (`rows` rows or `bytes` of images and audio) and when its buffered records go to disk
    as one row group (`group_bytes` of images and audio): memory holds at most one row group."""

    rows: int
    bytes: int
    group_bytes: int


def parquet_writer(path: Path, schema):
    import pyarrow.parquet as pq

    return pq.ParquetWriter(str(path), schema)


class SplitShards:
    """One split's records into numbered local shard files, a row group at a time. Records wait in a buffer until
    it holds `budget.group_bytes` of images and audio (or the shard closes), then go to the open shard as one row
    group, so a shard's size never decides the memory. `open_writer(path, schema)` opens a shard (a pyarrow
    ParquetWriter; the `datasets` schema carries the features in the file's metadata)."""

    def __init__(self, folder: Path, split: str, features, budget: ShardBudget, open_writer=parquet_writer):
        self.folder, self.split, self.budget, self.open_writer = folder, split, budget, open_writer
        self.schema = features.arrow_schema
        self.files: list[Path] = []
        self.writer = None
        self.buffer: list[dict] = []
        self.buffer_bytes = self.shard_rows = self.shard_bytes = 0

    def add(self, record: dict) -> None:
        size = _payload(record)
        self.buffer.append(record)
        self.buffer_bytes += size
        self.shard_rows += 1
        self.shard_bytes += size
        if self.shard_rows >= self.budget.rows or self.shard_bytes >= self.budget.bytes:
            self._close_shard()
        elif self.buffer_bytes >= self.budget.group_bytes:
            self._flush()

    def finish(self) -> list[Path]:
        """Close the last shard; a split that got no record still gets one empty shard (with the features)."""
        if self.buffer or self.writer is not None or not self.files:
            self._close_shard()
        return self.files

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def _flush(self) -> None:
        """The buffer as one row group of the open shard. Images and audio are already {bytes, path}, their
        storage form, so nothing is re-encoded (the library's own encoder would import torch for audio: seconds
        and half a gigabyte)."""
        import pyarrow as pa

        if self.writer is None:
            self.files.append(self.folder / f"{self.split}-{len(self.files)}.parquet")
            self.writer = self.open_writer(self.files[-1], self.schema)
        if self.buffer or self.shard_rows == 0:
            self.writer.write_table(pa.Table.from_pylist(self.buffer, schema=self.schema))
        self.buffer, self.buffer_bytes = [], 0

    def _close_shard(self) -> None:
        self._flush()
        self.writer.close()
        self.writer = None
        self.shard_rows = self.shard_bytes = 0


def write_shards(out, spec: TaskSpec, rows: pd.DataFrame, load: Callable[[dict], dict], lineage: dict[str, str],
                 shard_rows: int, shard_bytes: int = 256 << 20, progress: Progress = NO_PROGRESS,
                 group_bytes: int = 8 << 20, open_writer=parquet_writer) -> dict:
    """Every split's shards into the product being written (`out`: a ProductWriter). Returns per split its rows
    and files. Each record goes to its shard as soon as a row group of `group_bytes` is full, so memory holds one
    row group whatever the film's length; a shard closes at `shard_rows` rows or `shard_bytes`, and the shards
    wait on local disk until the split's count is known for their `-of-N` names. A split without rows has no
    files; a dataset without rows gets one empty train shard, so it still loads (with its features).
    `progress` hears of the rows written."""
    features = full_features(spec)
    budget = ShardBudget(shard_rows, shard_bytes, group_bytes)
    splits = {}
    task = progress.task("rows", len(rows), "rows")
    with tempfile.TemporaryDirectory(prefix="animproc-shard-") as tmp:
        for split in SPLITS:
            part = rows[rows["split"] == split]
            if part.empty and not (split == "train" and rows.empty):
                continue
            shards = SplitShards(Path(tmp), split, features, budget, open_writer)
            try:
                for row in part.to_dict("records"):
                    shards.add(_record(row, load, features, lineage))
                    task.advance()
                written = shards.finish()
            finally:
                shards.abort()
            files = []
            for k, local in enumerate(written):
                files.append(_shard_name(split, k, len(written)))
                out.storage.upload_file(local, out.path(files[-1]))
                local.unlink()
            splits[split] = {"rows": int(len(part)), "files": files,
                             "groups": int(part["group"].nunique()) if len(part) else 0}
    task.finish()
    return splits


def _record(row: dict, load, features, lineage: dict[str, str]) -> dict:
    record = {**{k: _plain(v) for k, v in row.items() if k in features}, **load(row), **lineage}
    return {c: record.get(c) for c in features}


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def index_table(rows: pd.DataFrame, spec: TaskSpec, lineage: dict[str, str]) -> pd.DataFrame:
    """The dataset's rows without their bytes: what counts, unions and reviews read."""
    index = rows.drop(columns=[c for c in spec.binary if c in rows.columns]).copy()
    for column, value in lineage.items():
        index[column] = value
    lead = ["row_id", "split", "film", "group"]
    index = index[lead + [c for c in index.columns if c not in lead]]
    for c in index.columns:  # plan columns holding lists or dicts are stored as JSON text
        if index[c].map(lambda v: isinstance(v, list | dict)).any():
            index[c] = index[c].map(json.dumps)
    return index


def wav_bytes(samples: np.ndarray, rate: int) -> bytes:
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, samples, rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


class AudioClips:
    """Clips of one audio file (16 kHz mono analysis WAV) by time, read by seeking; nothing else is loaded."""

    def __init__(self, path, longest: float):
        import soundfile as sf

        self.file = sf.SoundFile(str(path))
        self.rate, self.longest = self.file.samplerate, longest

    def clip(self, start: float, end: float) -> dict | None:
        """The span (centred and cut to `longest` seconds when longer) as WAV bytes for an Audio feature."""
        start, end = max(0.0, float(start)), float(end)
        if end - start > self.longest:
            middle = (start + end) / 2
            start, end = middle - self.longest / 2, middle + self.longest / 2
        first = int(start * self.rate)
        if first >= self.file.frames or end <= start:
            return None
        self.file.seek(first)
        samples = self.file.read(max(1, int((end - start) * self.rate)), dtype="float32", always_2d=True).mean(axis=1)
        return {"bytes": wav_bytes(samples, self.rate), "path": None}

    def close(self) -> None:
        self.file.close()
