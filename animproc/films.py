"""Film keys and every other name that becomes a path component under the storage root (character names,
cluster keys, ids from review files): one rule, checked once where the name enters the system."""
from __future__ import annotations

import re
import unicodedata

from animproc.errors import FilmKeyError

FILM_KEY_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?$")
MEDIA_SUFFIXES = (".mp4", ".mkv", ".mov", ".webm")
MAX_COMPONENT_BYTES = 255  # NAME_MAX of ext4, xfs, btrfs, tmpfs and of S3 key segments in practice
# Folders the storage root keeps for itself beside the films: a film named after one would share it.
RESERVED_ROOT_NAMES = frozenset({"inbox"})


def path_component_problem(name: object) -> str | None:
    """Why `name` cannot be one folder or file name under the storage root, or None if it can.

    A component must stay inside its parent: no separators, no `.`/`..`, nothing hidden (the storage keeps
    `.staging` and temporary files there), no NUL or control characters, valid UTF-8, at most 255 bytes.
    Callers strip surrounding blanks first when they mean to (names typed by people), so `" .."` is `..`."""
    if not isinstance(name, str):
        return "it is not a string"
    if not name:
        return "it is empty"
    if name != name.strip():
        return "it starts or ends with blanks"
    if any(ch in name for ch in "/\\"):
        return "it contains a path separator"
    if name in (".", "..") or name.startswith("."):
        return "it starts with '.'"
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        return "it contains a control character (NUL, newline, ...)"
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        return "it is not valid Unicode (a lone surrogate)"
    if size > MAX_COMPONENT_BYTES:
        return f"it is {size} bytes long in UTF-8 (at most {MAX_COMPONENT_BYTES})"
    return None


def validate_film_key(name: str) -> str:
    """Return `name` if it is a valid film key, else raise with the reason.

    Keys become directory names under the storage root, so anything that could escape it
    (slashes, dots, `..`) or differ only by case is refused rather than silently rewritten, and so are the
    root's own folder names (`inbox`).
    """
    if not isinstance(name, str) or not name:
        raise FilmKeyError("film name is empty")
    if any(ch in name for ch in "/\\") or ".." in name or name.startswith("."):
        raise FilmKeyError(f"film name {name!r} contains path characters; use a slug such as 'my-film'")
    problem = path_component_problem(name)
    if problem or not FILM_KEY_PATTERN.match(name):
        raise FilmKeyError(
            f"film name {name!r} is not a lowercase slug: use 1-64 characters from a-z, 0-9, '-' and '_', "
            "starting and ending with a letter or digit"
        )
    if name in RESERVED_ROOT_NAMES:
        raise FilmKeyError(f"film name {name!r} is reserved: the storage root keeps its {name}/ folder there")
    return name


def slugify(text: str) -> str:
    """Derive a film key from free text such as a file name (used for files dropped in the inbox)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:64].strip("-")
    return validate_film_key(slug or "film")
