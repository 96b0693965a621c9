"""Probe a media file with PyAV: what a film is made of, and whether it can be used at all."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from animproc.errors import MediaError
from animproc.media import open_media
from animproc.video.decode import display_rotation


@dataclass(frozen=True)
class AudioStreamInfo:
    index: int
    codec: str
    sample_rate: int
    channels: int
    layout: str


@dataclass(frozen=True)
class MediaInfo:
    path: str
    container: str
    duration_s: float
    size_bytes: int
    video_codec: str | None = None
    width: int | None = None
    height: int | None = None
    pix_fmt: str | None = None
    fps: float | None = None
    frame_count: int | None = None
    vfr: bool = False
    rotation: int = 0  # clockwise degrees to show the picture upright
    audio: list[AudioStreamInfo] = field(default_factory=list)

    @property
    def has_video(self) -> bool:
        return self.video_codec is not None

    def to_dict(self) -> dict:
        return asdict(self)


def _packet_times(container: av.container.InputContainer, stream: av.VideoStream) -> np.ndarray:
    """Presentation times of every video packet, in stream time-base units, sorted (demux only, no decode)."""
    pts = [p.pts for p in container.demux(stream) if p.pts is not None and p.size > 0]
    return np.sort(np.asarray(pts, dtype=np.int64))


def _is_vfr(pts: np.ndarray) -> bool:
    if len(pts) < 3:
        return False
    durations = np.diff(pts)
    median = float(np.median(durations))
    if median <= 0:
        return False
    # Rounding in the container's time base jitters durations by a tick; a real VFR file varies by far more.
    return bool(np.mean(np.abs(durations - median) > max(2.0, 0.02 * median)) > 0.01)


def probe_media(path: str | Path, require_video: bool = True) -> MediaInfo:
    """Read container, streams and frame timing; raise MediaError naming the file and the problem.

    Decodes the first video frame (a file whose first frame will not decode is unusable) and demuxes
    every video packet to count frames and detect variable frame rate, which is cheap next to decoding.
    """
    path = Path(path)
    with open_media(path) as container:
        audio = [
            AudioStreamInfo(s.index, s.codec_context.name, s.codec_context.sample_rate or 0,
                            s.codec_context.channels or 0, s.codec_context.layout.name if s.codec_context.layout else "")
            for s in container.streams.audio
        ]
        duration = float(container.duration / av.time_base) if container.duration else 0.0
        container_name = container.format.name
        base = dict(path=str(path), container=container_name, duration_s=duration,
                    size_bytes=path.stat().st_size, audio=audio)
        if not container.streams.video:
            if require_video:
                kind = "an audio-only file" if audio else "a file with no audio or video streams"
                raise MediaError(path, f"has no video stream ({kind}); video assets need a video stream")
            return MediaInfo(**base)
        stream = container.streams.video[0]
        cc = stream.codec_context
        try:
            first = next(container.decode(stream), None)
        except av.error.FFmpegError as exc:
            raise MediaError(path, f"video stream cannot be decoded ({exc.strerror or exc})") from None
        if first is None:
            raise MediaError(path, "video stream has no decodable frames (truncated or corrupt file)")
        rotation = display_rotation(first)
        container.seek(0, stream=stream) if stream.start_time is not None else None
        try:
            pts = _packet_times(container, stream)
        except av.error.FFmpegError as exc:
            raise MediaError(path, f"video stream is corrupt ({exc.strerror or exc})") from None
    if container_name.endswith("_pipe") or container_name == "image2":
        raise MediaError(path, f"is a still image ({cc.name}, read by the {container_name} demuxer), not a video")
    if len(pts) == 0:
        raise MediaError(path, "video stream has no frames with timestamps (0 frames): not a usable video")
    declared = stream.frames or 0
    if declared and len(pts) < 0.9 * declared:
        raise MediaError(path, f"truncated: the container declares {declared} video frames but only {len(pts)} are present")
    rate = stream.average_rate or stream.guessed_rate or Fraction(0)
    if len(pts) > 1 and stream.time_base:
        span = float((pts[-1] - pts[0]) * stream.time_base)
        fps = (len(pts) - 1) / span if span > 0 else float(rate)
    else:
        fps = float(rate)
    if not duration and len(pts):
        duration = len(pts) / fps if fps else 0.0
    return MediaInfo(
        **{**base, "duration_s": duration},
        video_codec=cc.name, width=cc.width, height=cc.height, pix_fmt=cc.format.name if cc.format else None,
        fps=round(fps, 6), frame_count=len(pts), vfr=_is_vfr(pts), rotation=rotation,
    )
