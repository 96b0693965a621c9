"""A film's dataset exported to a folder: `hf` (`DatasetDict.save_to_disk`), `parquet` (the Hub layout: card and
`data/` shards) or `webdataset` (tar shards laid out like video2dataset's: per sample `{key}.json` with the row's
columns and one file per image / audio column, `{key}.{column}.jpg|png|wav`, and a `_stats.json` per shard).

The export is built in a hidden folder beside the target and renamed into place at the end, so an interrupted
or failed export leaves nothing half-written; an existing non-empty folder is refused unless `overwrite`."""
from __future__ import annotations

import io
import json
import shutil
import tarfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from animproc.catalogue import FilmProducts
from animproc.datasets.tasks import TASKS
from animproc.errors import AnimprocError

FORMATS = ("hf", "parquet", "webdataset")


class ExportError(AnimprocError):
    pass


@contextmanager
def staged_folder(output: Path, overwrite: bool) -> Iterator[Path]:
    """A fresh folder that becomes `output` when the block succeeds (and is removed when it fails)."""
    output = Path(output)
    if output.exists() and not output.is_dir():
        raise ExportError(f"{output}: exists and is not a folder")
    if output.is_dir() and any(output.iterdir()) and not overwrite:
        raise ExportError(f"{output}: folder is not empty; pass --overwrite to replace it")
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = output.parent / f".{output.name}.partial-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        yield staging
        old = None
        if output.exists():
            old = output.parent / f".{output.name}.old-{uuid.uuid4().hex[:8]}"
            output.rename(old)
        staging.rename(output)
        if old is not None:
            shutil.rmtree(old)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def dataset_files(products: FilmProducts, task: str) -> tuple[str, dict]:
    """The dataset product of `task` and its splits.json (refusing a task that does not exist or is not built)."""
    if task not in TASKS:
        raise ExportError(f"unknown task {task!r}: one of {', '.join(TASKS)}")
    name = TASKS[task].name
    if not products.has(name, "index"):
        raise ExportError(f"film {products.film!r} has no {name} yet; run `animproc run {products.film} --select {name}`")
    return name, products.json(name, "splits")


def export_dataset(products: FilmProducts, task: str, fmt: str, output: Path, overwrite: bool = False) -> dict:
    """Write the film's dataset of `task` in `fmt` to `output`; returns rows per split."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}: one of {', '.join(FORMATS)}")
    name, info = dataset_files(products, task)
    splits = {s: v for s, v in info["splits"].items()}
    with staged_folder(output, overwrite) as folder:
        {"hf": _hf, "parquet": _parquet, "webdataset": _webdataset}[fmt](products, name, splits, folder)
        (folder / "README.md").write_bytes(products.file(name, "card").read_bytes())
    return {s: v["rows"] for s, v in splits.items()}


def _local(products: FilmProducts, name: str, file: str):
    return products.storage.local_copy(products.resolve(f"{products.film}/{name}/{file}"))


def _parquet(products, name, splits, folder: Path) -> None:
    for part in splits.values():
        for file in part["files"]:
            with _local(products, name, file) as local:
                (folder / file).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(local, folder / file)
    (folder / "splits.json").write_bytes(products.file(name, "splits").read_bytes())


def _hf(products, name, splits, folder: Path) -> None:
    """Each split's shards are copied a row group at a time into one Arrow stream file that `datasets` memory-maps,
    so `save_to_disk` never holds a split's images and audio in memory; the stream files go when it is done."""
    import tempfile

    from datasets import Dataset, DatasetDict

    with tempfile.TemporaryDirectory(dir=folder.parent, prefix=f".{folder.name}.arrow-") as scratch:
        parts = {split: Dataset.from_file(_arrow_stream(products, name, part["files"], Path(scratch) / f"{split}.arrow"))
                 for split, part in splits.items()}
        DatasetDict(parts).save_to_disk(str(folder))
        del parts


def _arrow_stream(products, name, files: list[str], path: Path) -> str:
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer = None
    try:
        for file in files:
            with _local(products, name, file) as local:
                shard = pq.ParquetFile(local)
                writer = writer or pa.ipc.new_stream(str(path), shard.schema_arrow)  # features ride in its metadata
                for group in range(shard.num_row_groups):
                    writer.write_table(shard.read_row_group(group))
    finally:
        if writer is not None:
            writer.close()
    if writer is None:
        raise ExportError(f"{name}: a split lists no shard files")
    return str(path)


def _suffix(data: bytes) -> str:
    return "png" if data[:8] == b"\x89PNG\r\n\x1a\n" else "jpg"


def _webdataset(products, name, splits, folder: Path) -> None:
    import pyarrow.parquet as pq

    spec = next(s for s in TASKS.values() if s.name == name)
    binary = set(spec.binary)
    audio = {c for c, feature in spec.features().items() if type(feature).__name__ == "Audio"}
    for split, part in splits.items():
        (folder / split).mkdir()
        for k, file in enumerate(part["files"]):
            stats = {"count": 0, "successes": 0, "failed_to_read": 0, "shard": f"{k:05d}"}
            with _local(products, name, file) as local, tarfile.open(folder / split / f"{k:05d}.tar", "w") as tar:
                for batch in pq.ParquetFile(local).iter_batches(batch_size=64):
                    for row in batch.to_pylist():
                        key = f"{k:05d}{stats['count']:04d}"
                        stats["count"] += 1
                        meta = {c: v for c, v in row.items() if c not in binary}
                        for column in sorted(binary):
                            value = row.get(column)
                            if not value or not value.get("bytes"):
                                meta[column] = None
                                continue
                            ext = "wav" if column in audio else _suffix(value["bytes"])
                            meta[column] = f"{key}.{column}.{ext}"
                            _add(tar, meta[column], value["bytes"])
                        _add(tar, f"{key}.json", json.dumps({"key": key, **meta}).encode())
                        stats["successes"] += 1
            (folder / split / f"{k:05d}_stats.json").write_text(json.dumps(stats, indent=1))


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), 0, 0o644
    tar.addfile(info, io.BytesIO(data))
