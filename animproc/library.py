"""A film's source media in storage: `{root}/{film}/source/{film}{ext}` plus `film.json` describing it."""
from __future__ import annotations

import json
import time
from pathlib import Path

from upath import UPath

from animproc.errors import MediaError
from animproc.films import MEDIA_SUFFIXES, validate_film_key
from animproc.storage import Storage
from animproc.video.probe import MediaInfo, probe_media

SOURCE = "source"


def store_source(storage: Storage, film: str, media: str | Path) -> MediaInfo:
    """Validate the name, probe the file and store it (hard link when possible, else a copy).

    Nothing is written unless the file is a usable video."""
    validate_film_key(film)
    media = Path(media)
    if media.suffix.lower() not in MEDIA_SUFFIXES:
        raise MediaError(media, f"unsupported extension {media.suffix or '(none)'}; expected one of "
                                f"{', '.join(MEDIA_SUFFIXES)}")
    info = probe_media(media)
    folder = storage.film_dir(film) / SOURCE
    target = folder / f"{film}{media.suffix.lower()}"
    for old in _media_files(folder):
        if old.name != target.name:
            old.unlink()
    storage.upload_file(media, target)
    record = {"film": film, "original_path": str(media.resolve()), "stored_as": target.name,
              "added_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "probe": info.to_dict()}
    storage.write_text(folder / "film.json", json.dumps(record, indent=2))
    return info


def _media_files(folder: UPath) -> list[UPath]:
    if not folder.exists():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in MEDIA_SUFFIXES and not p.name.startswith("."))


def source_path(storage: Storage, film: str) -> UPath:
    files = _media_files(storage.film_dir(film) / SOURCE)
    if not files:
        raise MediaError(storage.film_dir(film) / SOURCE,
                         f"no source media for film {film!r}; add it with `animproc film add {film} PATH`")
    return files[0]


def film_record(storage: Storage, film: str) -> dict | None:
    path = storage.film_dir(film) / SOURCE / "film.json"
    return json.loads(path.read_text()) if path.exists() else None
