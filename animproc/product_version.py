"""A product's content version: what Dagster records as the data version of `{root}/{film}/{asset}/`, so that
an asset re-run that writes the same content leaves everything downstream up to date.

Cheap on purpose: tables and small text files (Parquet, JSON, ...) are hashed whole, they carry the product's
rows; binaries (frames, cutouts, audio stems) count by relative path and size only, as they are named by and
derived from those tables. A feature film's gigabytes of images are therefore listed, never read twice."""
from __future__ import annotations

import hashlib

from animproc.catalogue import FilmProducts
from animproc.storage import Storage

HASHED_SUFFIXES = (".parquet", ".json", ".csv", ".rttm", ".txt", ".yaml", ".md")


def product_version(storage: Storage, film: str, asset: str) -> str:
    """Hex digest of the product folder's files: names, sizes, and the bytes of its tables."""
    folder = FilmProducts(storage, film).folder(asset)
    digest = hashlib.sha256()
    if not folder.exists():
        return digest.hexdigest()[:24]
    fs = folder.fs
    found = fs.find(folder.path, detail=True)
    base = folder.path.rstrip("/") + "/"
    for full in sorted(found):
        info = found[full]
        name = full.removeprefix(base)
        digest.update(f"{name}\0{info.get('size', 0)}\0".encode())
        if name.lower().endswith(HASHED_SUFFIXES):
            digest.update(fs.cat_file(full))
    return digest.hexdigest()[:24]
