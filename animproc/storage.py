"""One storage root for every film's outputs: `{root}/{film}/{asset}/...`, local or `s3://` through UPath.

Writes never expose partial results: single files go to a temporary name and are renamed; an asset's
whole output folder is built in a staging folder and swapped in only when the asset succeeds, so a run
killed mid-way leaves the previous outputs (or nothing) visible, and re-materialising leaves no stale files.
On local roots the swap is one `renameat2(RENAME_EXCHANGE)` (Linux), so a reader never finds the folder
missing, and it is done under a lock per film and asset, so two writers publish one after the other; a failed
swap removes its staging folder. Files get the mode the umask gives (as any program's), not mkstemp's 0600.
On object stores each object is written in one PUT (atomic per object) and the folder swap is a copy.
"""
from __future__ import annotations

import ctypes
import errno
import fcntl
import io
import os
import shutil
import socket
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
from upath import UPath

STAGING = ".staging"
LOCKS = ".locks"


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
            tmp = Path(path).with_name(f".{Path(path).name}.{uuid.uuid4().hex[:12]}.part")
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                os.replace(tmp, path)
            except BaseException:
                tmp.unlink(missing_ok=True)
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
    def locked(self, film: str, name: str) -> Iterator[None]:
        """An exclusive lock named `name` for one film: across processes on local roots (flock on
        `{film}/.locks/{name}.lock`, released by the kernel if the holder dies), within the process otherwise."""
        if not self.is_local:
            with _process_lock(f"{self.root}/{film}/{name}"):
                yield
            return
        path = Path(self.film_dir(film)) / LOCKS / f"{name}.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        with _process_lock(str(path)), open(path, "a") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    @contextmanager
    def publish_dir(self, film: str, asset: str) -> Iterator[UPath]:
        """Yield an empty staging folder; on success it replaces `{root}/{film}/{asset}` whole."""
        self._remove_abandoned_staging(film, asset)
        staging = self.film_dir(film) / STAGING / f"{asset}@{socket.gethostname()}@{os.getpid()}@{uuid.uuid4().hex[:8]}"
        try:
            staging.mkdir(parents=True, exist_ok=True)
            yield staging
            with self.locked(film, f"{asset}.publish"):
                self._swap_in(staging, self.asset_dir(film, asset))
        finally:
            self.remove_tree(staging)  # what was there before the swap, or the unused staging folder

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
        """Put `staging` at `target`; afterwards `staging` holds the previous outputs (or is gone)."""
        if self.is_local:
            if not Path(target).exists():
                os.rename(staging, target)
            elif not _exchange(Path(staging), Path(target)):
                trash = Path(str(staging) + ".old")  # no RENAME_EXCHANGE here: a moment without the folder
                os.replace(target, trash)
                os.replace(staging, target)
                os.replace(trash, staging)
            return
        fs = target.fs
        if target.exists():
            fs.rm(target.path, recursive=True)
        fs.copy(staging.path, target.path, recursive=True)

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


_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def _process_lock(name: str) -> threading.Lock:
    """flock excludes other processes (and other open files); threads of this process wait on this first."""
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(name, threading.Lock())


RENAME_EXCHANGE = 2
AT_FDCWD = -100


def _renameat2():
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    return fn


_RENAMEAT2 = _renameat2()


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux renameat2); False where the system or filesystem cannot."""
    if _RENAMEAT2 is None:
        return False
    if _RENAMEAT2(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


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
