"""One storage root for every film's outputs: `{root}/{film}/{asset}/...`, local or `s3://` through UPath.

Writes never expose partial results: single files go to a temporary name and are renamed; an asset's
whole output folder is built in a staging folder and swapped in only when the asset succeeds, so a run
killed mid-way leaves the previous outputs (or nothing) visible, and re-materialising leaves no stale files.
On object stores each object is written in one PUT (atomic per object) and the folder swap is a copy.
"""
from __future__ import annotations

import io
import os
import shutil
import socket
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
from upath import UPath

STAGING = ".staging"


class Storage:
    def __init__(self, root: str | os.PathLike, **storage_options):
        self.root = UPath(str(root), **storage_options) if storage_options else UPath(str(root))
        self.is_local = self.root.protocol in ("", "file", "local")
        if self.is_local:
            self.root = UPath(os.path.abspath(str(root)))

    def __repr__(self) -> str:
        return f"Storage({str(self.root)!r})"

    def film_dir(self, film: str) -> UPath:
        return self.root / film

    def asset_dir(self, film: str, asset: str) -> UPath:
        return self.root / film / asset

    def relative(self, path: UPath) -> str:
        """Path relative to the root, as stored in manifests so the root can move."""
        return str(path).removeprefix(str(self.root)).lstrip("/")

    def resolve(self, relative: str) -> UPath:
        return self.root / relative

    def write_bytes(self, path: UPath, data: bytes) -> None:
        if self.is_local:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=Path(path).parent, prefix=f".{Path(path).name}.", suffix=".part")
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)

    def write_text(self, path: UPath, text: str) -> None:
        self.write_bytes(path, text.encode("utf-8"))

    def write_parquet(self, path: UPath, frame: pd.DataFrame) -> None:
        buf = io.BytesIO()
        frame.to_parquet(buf, index=False)
        self.write_bytes(path, buf.getvalue())

    def read_parquet(self, path: UPath) -> pd.DataFrame:
        """Through an Arrow buffer, not a Python file object: pyarrow reading a Python file sometimes left a
        thread that aborted the interpreter at exit ("terminate called without an active exception")."""
        import pyarrow as pa

        with path.open("rb") as fh:
            return pd.read_parquet(pa.BufferReader(fh.read()))

    @contextmanager
    def publish_dir(self, film: str, asset: str) -> Iterator[UPath]:
        """Yield an empty staging folder; on success it replaces `{root}/{film}/{asset}` whole."""
        self._remove_abandoned_staging(film, asset)
        staging = self.film_dir(film) / STAGING / f"{asset}@{socket.gethostname()}@{os.getpid()}@{uuid.uuid4().hex[:8]}"
        staging.mkdir(parents=True, exist_ok=True)
        try:
            yield staging
        except BaseException:
            self.remove_tree(staging)
            raise
        self._swap_in(staging, self.asset_dir(film, asset))

    def _remove_abandoned_staging(self, film: str, asset: str) -> None:
        """Staging folders left by killed runs on this host (their process is gone) are deleted."""
        folder = self.film_dir(film) / STAGING
        if not self.is_local or not folder.exists():
            return
        for entry in folder.iterdir():
            parts = entry.name.split("@")
            if len(parts) != 4 or parts[0] != asset or parts[1] != socket.gethostname():
                continue
            try:
                os.kill(int(parts[2]), 0)
            except (ProcessLookupError, ValueError):
                shutil.rmtree(Path(entry), ignore_errors=True)
            except PermissionError:
                pass

    def _swap_in(self, staging: UPath, target: UPath) -> None:
        if self.is_local:
            trash = Path(str(staging) + ".old")
            if Path(target).exists():
                os.replace(target, trash)
            os.replace(staging, target)
            shutil.rmtree(trash, ignore_errors=True)
            return
        fs = target.fs
        if target.exists():
            fs.rm(target.path, recursive=True)
        fs.copy(staging.path, target.path, recursive=True)
        fs.rm(staging.path, recursive=True)

    def remove_tree(self, path: UPath) -> None:
        if self.is_local:
            shutil.rmtree(Path(path), ignore_errors=True)
        elif path.exists():
            path.fs.rm(path.path, recursive=True)

    @contextmanager
    def local_copy(self, path: UPath) -> Iterator[Path]:
        """A local filesystem path for reading `path` (downloaded to a temp file for remote roots)."""
        if self.is_local:
            yield Path(path)
            return
        with tempfile.TemporaryDirectory(prefix="animproc-") as tmp:
            local = Path(tmp) / path.name
            path.fs.get(path.path, str(local))
            yield local

    def upload_file(self, local: Path, target: UPath) -> None:
        """Copy a local file to `target` atomically (hard link when possible; used to store source media)."""
        if self.is_local:
            _link_or_copy(Path(local), Path(target))
        else:
            target.fs.put_file(str(local), target.path)

    def copy(self, source: UPath, target: UPath) -> None:
        """Copy a file within the storage root: a hard link on local roots (no second copy of the bytes)."""
        if self.is_local:
            _link_or_copy(Path(source), Path(target))
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            source.fs.copy(source.path, target.path)


def _link_or_copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.part")
    try:
        try:
            os.link(source, tmp)
        except OSError:
            shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
