"""Film keys: lowercase slugs that are safe as partition keys and as path components."""
from __future__ import annotations

import re
import unicodedata

from animproc.errors import FilmKeyError

FILM_KEY_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?$")
MEDIA_SUFFIXES = (".mp4", ".mkv", ".mov", ".webm")


def validate_film_key(name: str) -> str:
    """Return `name` if it is a valid film key, else raise with the reason.

    Keys become directory names under the storage root, so anything that could escape it
    (slashes, dots, `..`) or differ only by case is refused rather than silently rewritten.
    """
    if not isinstance(name, str) or not name:
        raise FilmKeyError("film name is empty")
    if any(ch in name for ch in "/\\") or ".." in name or name.startswith("."):
        raise FilmKeyError(f"film name {name!r} contains path characters; use a slug such as 'my-film'")
    if not FILM_KEY_PATTERN.match(name):
        raise FilmKeyError(
            f"film name {name!r} is not a lowercase slug: use 1-64 characters from a-z, 0-9, '-' and '_', "
            "starting and ending with a letter or digit"
        )
    return name


def slugify(text: str) -> str:
    """Derive a film key from free text such as a file name (used for files dropped in the inbox)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:64].strip("-")
    return validate_film_key(slug or "film")
