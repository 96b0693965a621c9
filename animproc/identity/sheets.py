"""The identity previews a curator reads in the UI: every cluster's medoid with its name and size, each
character's instances, each character's pose buckets. Small JPEG-ready images with fixed cell sizes, so a film's
previews stay a few hundred KB whatever its number of faces."""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from animproc.image.preview import caption_band, encode_image, fit_cell

BUCKET_ORDER = ("front", "three_quarter", "profile", "back", "unknown")
TAG_HEIGHT = 12
BUCKET_TAG = {"front": "F", "three_quarter": "3/4", "profile": "P", "back": "B", "unknown": "?"}


@dataclass
class Sheet:
    image: np.ndarray  # BGR
    captions: list[str]  # what each cell (medoid sheet) or row (character, pose sheets) is labelled, in order

    def jpeg(self, quality: int = 70) -> bytes:
        return encode_image(self.image, ".jpg", quality)


def cluster_name(cluster: int, names: dict[int, str]) -> str:
    """A cluster's suggested name, else its number (before the review: what its character is called depends on
    the review mode)."""
    return names.get(cluster) or f"cluster {cluster}"


def count_caption(name: str, count: int | str) -> str:
    return f"{name} ({count})"


def _tail(caption: str) -> int:
    return len(caption) - caption.rfind(" (") if " (" in caption else 0


def _grid(cells: list[np.ndarray], columns: int) -> np.ndarray:
    h, w = cells[0].shape[:2]
    cells = cells + [np.zeros((h, w, 3), np.uint8)] * (-len(cells) % columns)
    return np.vstack([np.hstack(cells[r:r + columns]) for r in range(0, len(cells), columns)])


def medoid_sheet(medoids: Sequence[tuple[np.ndarray, str, int]], thumb: int = 80, columns: int = 8) -> Sheet:
    """Every cluster's medoid crop (`(crop, name, size)`, all of them, however many) with "name (size)" under
    it."""
    captions = [count_caption(name, size) for _, name, size in medoids]
    cells = [np.vstack([fit_cell(crop, thumb), caption_band(c, thumb, _tail(c))])
             for (crop, _, _), c in zip(medoids, captions)]
    if not cells:
        return Sheet(np.zeros((thumb, thumb, 3), np.uint8), [])
    return Sheet(_grid(cells, min(columns, len(cells))), captions)


def _rows(rows: list[tuple[str, list[np.ndarray], list[str | None]]], thumb: int, per_row: int) -> np.ndarray:
    """Each row a caption band across the sheet over its thumbnails (each with an optional corner tag)."""
    width = thumb * per_row
    out = []
    for caption, images, tags in rows:
        cells = []
        for image, tag in zip(images[:per_row], tags[:per_row]):
            cell = fit_cell(image, thumb)
            if tag:
                cell[:TAG_HEIGHT] = caption_band(tag, thumb, 0, TAG_HEIGHT)
            cells.append(cell)
        cells += [np.zeros((thumb, thumb, 3), np.uint8)] * (per_row - len(cells))
        out += [caption_band(caption, width, _tail(caption)), np.hstack(cells)]
    return np.vstack(out)


def _spread(items: list, limit: int) -> list:
    if len(items) <= limit:
        return items
    return [items[int(i)] for i in np.linspace(0, len(items) - 1, limit).astype(int)]


def character_sheet(index: pd.DataFrame, read: Callable[[str], np.ndarray], per_character: int = 6,
                    thumb: int = 56, most: int = 30) -> Sheet:
    """One row per character (the `characters` index; at most `most`, the largest first): "name (N instances,
    M faces)" over up to `per_character` of its instances spread over them, face crops filling up when it has
    fewer instances. `read(path)` gives a stored image."""
    rows = []
    counts = index.groupby(["character", "kind"]).size().unstack(fill_value=0) if len(index) else pd.DataFrame()
    for kind in ("instance", "face"):
        if kind not in counts:
            counts[kind] = 0
    order = counts.sort_values(["instance", "face"], ascending=False).index[:most] if len(counts) else []
    for name in order:
        mine = index[index["character"] == name]
        paths = _spread(list(mine.loc[mine["kind"] == "instance", "path"]), per_character)
        paths += _spread(list(mine.loc[mine["kind"] == "face", "path"]), per_character - len(paths))
        n, m = int(counts.loc[name, "instance"]), int(counts.loc[name, "face"])
        caption = count_caption(name, f"{n} instance{'s' * (n != 1)}, {m} face{'s' * (m != 1)}")
        rows.append((caption, [read(p) for p in paths], [None] * len(paths)))
    if not rows:
        return Sheet(np.zeros((thumb, thumb * per_character, 3), np.uint8), [])
    return Sheet(_rows(rows, thumb, per_character), [r[0] for r in rows])


def pose_caption(name: str, buckets: Sequence[str]) -> str:
    counts = Counter(buckets)
    parts = ", ".join(f"{b} {counts[b]}" for b in sorted(counts, key=_bucket_rank))
    return f"{name}: {parts} ({len(buckets)})"


def _bucket_rank(bucket: str) -> int:
    return BUCKET_ORDER.index(bucket) if bucket in BUCKET_ORDER else len(BUCKET_ORDER)


def pose_examples(images: Sequence[np.ndarray], buckets: Sequence[str], slots: int = 8,
                  thumb: int = 56) -> list[tuple[np.ndarray, str]]:
    """Up to `slots` instances taken from the buckets in turn (in bucket order, so every bucket shows before
    any shows twice), as thumbnails with their bucket: what a character's row of `pose_sheet` shows, small
    enough to keep for every character."""
    queues = [[i for i, b in enumerate(buckets) if b == bucket] for bucket in sorted(set(buckets), key=_bucket_rank)]
    picks = []
    for depth in range(max(map(len, queues), default=0)):
        picks += [q[depth] for q in queues if depth < len(q)]
    picks = sorted(picks[:slots], key=lambda i: (_bucket_rank(buckets[i]), i))
    return [(fit_cell(images[i], thumb), buckets[i]) for i in picks]


def pose_sheet(poses: Sequence[tuple[str, Sequence[str], list[tuple[np.ndarray, str]]]], thumb: int = 56,
               per_row: int = 8, most: int = 30) -> Sheet:
    """One row per character (`(name, every instance's bucket, pose_examples)`; at most `most`, the largest
    first): "name: front 12, profile 3 (15)" over its examples, each tagged with its bucket (F, 3/4, P, B, ?)."""
    poses = sorted(poses, key=lambda p: -len(p[1]))[:most]
    rows = [(pose_caption(name, buckets), [img for img, _ in examples], [BUCKET_TAG.get(b, b) for _, b in examples])
            for name, buckets, examples in poses]
    if not rows:
        return Sheet(np.zeros((thumb, thumb * per_row, 3), np.uint8), [])
    return Sheet(_rows(rows, thumb, per_row), [r[0] for r in rows])
