"""Writing one dataset: rows planned as a light table (references, no bytes), split by scene or shot, then
materialised shard by shard into Hugging Face Parquet files (`data/{split}-{k:05d}-of-{n:05d}.parquet`, the Hub's
layout, with the `datasets` features in the Parquet metadata so `load_dataset("parquet", ...)` gets Image and
Audio columns back). At most one shard's rows are in memory; the card and the index table come last."""
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


def _chunks(part: pd.DataFrame, load, features, lineage, shard_rows: int, shard_bytes: int, task):
    """The split's records in shards of at most `shard_rows` rows and about `shard_bytes` of images and audio;
    `task` hears of each record made."""
    records, size = [], 0
    for row in part.to_dict("records"):
        record = _record(row, load, features, lineage)
        task.advance()
        records.append(record)
        size += _payload(record)
        if len(records) >= shard_rows or size >= shard_bytes:
            yield records
            records, size = [], 0
    if records:
        yield records


def write_shards(out, spec: TaskSpec, rows: pd.DataFrame, load: Callable[[dict], dict], lineage: dict[str, str],
                 shard_rows: int, shard_bytes: int = 256 << 20, progress: Progress = NO_PROGRESS) -> dict:
    """Every split's shards into the product being written (`out`: a ProductWriter). Returns per split its rows
    and files. A shard is written as soon as it is full (rows or bytes), so memory holds one shard; the shards
    wait on local disk until the split's count is known for their `-of-N` names. A split without rows has no
    files; a dataset without rows gets one empty train shard, so it still loads (with its features).
    `progress` hears of the rows written."""
    features = full_features(spec)
    splits = {}
    task = progress.task("rows", len(rows), "rows")
    with tempfile.TemporaryDirectory(prefix="animproc-shard-") as tmp:
        for split in SPLITS:
            part = rows[rows["split"] == split]
            if part.empty and not (split == "train" and rows.empty):
                continue
            written = []
            for records in _chunks(part, load, features, lineage, shard_rows, shard_bytes, task):
                written.append(Path(tmp) / f"{split}-{len(written)}.parquet")
                _write_table(records, features, written[-1])
                del records
            if not written:
                written.append(Path(tmp) / f"{split}-0.parquet")
                _write_table([], features, written[-1])
            files = []
            for k, local in enumerate(written):
                files.append(_shard_name(split, k, len(written)))
                out.storage.upload_file(local, out.path(files[-1]))
                local.unlink()
            splits[split] = {"rows": int(len(part)), "files": files,
                             "groups": int(part["group"].nunique()) if len(part) else 0}
    task.finish()
    return splits


def _write_table(records: list[dict], features, path: Path) -> None:
    """Rows as Parquet with the `datasets` schema and its features in the file's metadata. Images and audio are
    already {bytes, path}, their storage form, so nothing is re-encoded (the library's own encoder would import
    torch for audio: seconds and half a gigabyte)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(records, schema=features.arrow_schema), str(path))


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
