"""Opening media files with PyAV, with errors a user can act on."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np

from animproc.errors import MediaError


def open_media(path: str | Path) -> av.container.InputContainer:
    """Open `path` for reading; a missing, empty or unreadable file raises MediaError naming it."""
    path = Path(path)
    if not path.exists():
        raise MediaError(path, "file does not exist")
    if path.stat().st_size == 0:
        raise MediaError(path, "file is empty (0 bytes)")
    try:
        return av.open(str(path), metadata_errors="ignore")
    except av.error.FFmpegError as exc:
        raise MediaError(path, f"not a readable media file ({exc.strerror or exc})") from None


def analysis_frames(container: av.container.InputContainer, fps: float) -> Iterator[tuple[int, av.VideoFrame]]:
    """(presentation index, frame) of the first video stream for analyses that sample a few frames a second.
    H.264 / HEVC frames that no other frame refers to are not decoded at all (on x264 output they are about 40 %
    of the frames and of the decode time), so indices come from timestamps and skip; an analysis takes the
    first frame at or past each time it wants (`Cadence`), at most a frame or two late."""
    stream = container.streams.video[0]
    if stream.codec_context.name in ("h264", "hevc"):
        stream.codec_context.skip_frame = "NONREF"
    tb = float(stream.time_base) if stream.time_base else 0.0
    start = stream.start_time or 0
    last = -1
    for frame in container.decode(stream):
        index = last + 1 if frame.pts is None or not tb else max(last + 1, int(round((frame.pts - start) * tb * fps)))
        last = index
        yield index, frame


def nearest_in(by_frame: dict[int, list], frames: np.ndarray, index: int, tolerance: int) -> list | None:
    """What `by_frame` holds for the frame nearest to `index` (`frames`: its keys, sorted), if one lies within
    `tolerance` frames."""
    i = int(np.searchsorted(frames, index))
    candidates = [j for j in (i - 1, i) if 0 <= j < len(frames)]
    if not candidates:
        return None
    best = int(frames[min(candidates, key=lambda j: abs(int(frames[j]) - index))])
    return by_frame[best] if abs(best - index) <= tolerance else None


class Cadence:
    """Due at start + offset + n * every: `due(index)` is true for the first index at or past each of those."""

    def __init__(self, every: int, start: int = 0, offset: int = 0):
        self.every, self.next = max(1, int(every)), start + offset

    def due(self, index: int) -> bool:
        if index < self.next:
            return False
        self.next += ((index - self.next) // self.every + 1) * self.every
        return True


def reduced_height(width: int, height: int, reduced_width: int) -> int:
    """The even height that keeps a width x height picture's aspect at `reduced_width`."""
    return max(2, int(round(height * reduced_width / max(width, 1))) // 2 * 2)


def reduced_bgr(frame: av.VideoFrame, width: int, height: int) -> np.ndarray:
    """The frame scaled down to width x height, BGR: area averaging, which is both the right filter for a
    large reduction and faster than swscale's default bilinear one."""
    return frame.reformat(width=width, height=height, format="bgr24", interpolation="AREA").to_ndarray()
