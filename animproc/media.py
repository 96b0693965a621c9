"""Opening media files with PyAV, with errors a user can act on."""
from __future__ import annotations

from pathlib import Path

import av

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


def analysis_stream(container: av.container.InputContainer):
    """The first video stream set up for reduced-resolution analysis: H.264 / HEVC frames that no other frame
    refers to skip deblocking (the error cannot spread, and at a few hundred pixels wide it does not show)."""
    stream = container.streams.video[0]
    if stream.codec_context.name in ("h264", "hevc"):
        stream.codec_context.options = {"skip_loop_filter": "noref"}
    return stream
