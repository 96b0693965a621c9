"""One streaming decode pass that hands each frame on with small analysis signals.

Shot detection only needs tiny images, so they are cut straight out of the decoded Y/U/V planes by
strided slicing (no colour conversion, no scaling); the full-resolution frame stays an `av.VideoFrame`
and is converted only if it is selected. Frame indices are presentation-order positions from 0, and
times come from each frame's own timestamp, so both stay right on variable-frame-rate input.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
from av.video.frame import PictureType
import numpy as np

from animproc.errors import MediaError
from animproc.media import open_media

PLANAR_420 = {"yuv420p", "yuvj420p"}


@dataclass
class FrameSignal:
    index: int
    time: float
    luma: np.ndarray  # uint8, about `analysis_width` wide
    u: np.ndarray  # uint8 chroma planes on a grid half as fine as `luma`'s
    v: np.ndarray
    frame: av.VideoFrame

    black_level: float = 22.0
    deblocked: bool = True  # False: deblocking was skipped on this frame (fine for analysis, not for output)
    _mean: float | None = None

    @property
    def mean_luma(self) -> float:
        if self._mean is None:
            self._mean = cv2.mean(self.luma)[0]
        return self._mean

    @property
    def is_black(self) -> bool:
        """Black or nearly so: dark on average and with no bright detail (a title card on black is not black)."""
        if self.mean_luma >= self.black_level:
            return False
        _, bright = cv2.threshold(self.luma, self.black_level + 8, 1, cv2.THRESH_BINARY)
        return cv2.countNonZero(bright) <= 0.001 * self.luma.size

    def rgb_thumbnail(self, width: int, height: int) -> np.ndarray:
        """Small RGB image built from the analysis planes (for models such as TransNetV2)."""
        y = cv2.resize(self.luma, (width, height), interpolation=cv2.INTER_AREA)
        u = cv2.resize(self.u, (width, height), interpolation=cv2.INTER_AREA)
        v = cv2.resize(self.v, (width, height), interpolation=cv2.INTER_AREA)
        return cv2.cvtColor(np.dstack([y, u, v]), cv2.COLOR_YUV2RGB)


def _plane(plane, h: int, w: int) -> np.ndarray:
    return np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)[:h, :w]


class _SignalCutter:
    def __init__(self, width: int, height: int, pix_fmt: str, analysis_width: int):
        self.step = max(2, (width // analysis_width) // 2 * 2)
        self.direct = pix_fmt in PLANAR_420
        self.w, self.h = width, height
        self.tw, self.th = max(8, width // self.step), max(8, height // self.step)

    def __call__(self, frame: av.VideoFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self.direct and frame.width == self.w and frame.height == self.h:
            s = self.step
            py, pu, pv = frame.planes  # each access of .planes builds new objects: once per frame
            luma = np.ascontiguousarray(_plane(py, self.h, self.w)[::s, ::s])
            h, w = luma.shape
            # Chroma on a grid twice as coarse: colour changes between shots are broad, and memory reads
            # of the strided planes are most of this function's cost.
            u = np.ascontiguousarray(_plane(pu, self.h // 2, self.w // 2)[::s, ::s][: (h + 1) // 2, : (w + 1) // 2])
            v = np.ascontiguousarray(_plane(pv, self.h // 2, self.w // 2)[::s, ::s][: (h + 1) // 2, : (w + 1) // 2])
            return luma, u, v
        small = frame.reformat(width=self.tw, height=self.th, format="yuv420p")
        h2, w2 = (self.th + 1) // 2, (self.tw + 1) // 2
        y, u, v = (np.ascontiguousarray(np.frombuffer(p, np.uint8).reshape(-1, p.line_size)[:hh, :ww])
                   for p, (hh, ww) in zip(small.planes, ((self.th, self.tw), (h2, w2), (h2, w2))))
        return y, u, v


# Deblocking can be skipped on frames nothing refers to: only those frames change, and only slightly.
# For H.264/HEVC "noref" left every I- and P-frame bit-identical on the files we checked; "bidir" did not
# (P-frames may refer to B-frames). Other codecs decode in full.
SAFE_SKIP_LOOP_FILTER = {"h264": "noref", "hevc": "noref"}


def iter_signals(path: str | Path, analysis_width: int = 160, black_level: float = 22.0,
                 skip_loop_filter: str | None = None) -> Iterator[FrameSignal]:
    """Decode every frame of the first video stream once, in presentation order.

    `skip_loop_filter="noref"` passes FFmpeg's option of that name where it is safe: deblocking is a good
    part of H.264/HEVC decode time, and frames no other frame refers to can skip it without the error
    spreading. The default decoder threading (slice threads) is kept: on a few cores frame threading
    measured no faster.
    """
    path = Path(path)
    with open_media(path) as container:
        if not container.streams.video:
            raise MediaError(path, "has no video stream")
        stream = container.streams.video[0]
        skipping = bool(skip_loop_filter) and SAFE_SKIP_LOOP_FILTER.get(stream.codec_context.name) == skip_loop_filter
        if skipping:
            stream.codec_context.options = {"skip_loop_filter": skip_loop_filter}
        cc = stream.codec_context
        cutter = _SignalCutter(cc.width, cc.height, cc.format.name if cc.format else "", analysis_width)
        start = stream.start_time or 0
        tb = float(stream.time_base) if stream.time_base else 0.0
        rate = float(stream.average_rate or stream.guessed_rate or 25)
        index = 0
        try:
            for frame in container.decode(stream):
                time = (frame.pts - start) * tb if frame.pts is not None and tb else index / rate
                luma, u, v = cutter(frame)
                # Unreferenced frames are B-frames in practice; I- and P-frames come out exact (tested).
                deblocked = not (skipping and frame.pict_type == PictureType.B)
                yield FrameSignal(index, max(0.0, time), luma, u, v, frame, black_level, deblocked)
                index += 1
        except av.error.FFmpegError as exc:
            raise MediaError(path, f"decoding failed after {index} frames ({exc.strerror or exc})") from None
    if index == 0:
        raise MediaError(path, "video stream has no decodable frames")


def mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two same-shaped images (OpenCV: far less call overhead than numpy)."""
    return cv2.norm(a, b, cv2.NORM_L1) / a.size


def display_rotation(frame: av.VideoFrame) -> int:
    """Clockwise degrees the picture must turn to be shown upright (the container's display matrix;
    FFmpeg reports it counter-clockwise)."""
    return (-int(round(getattr(frame, "rotation", 0) or 0))) % 360


def frame_to_bgr(frame: av.VideoFrame, max_side: int | None = None) -> np.ndarray:
    """Full-resolution BGR (OpenCV's order), turned upright; with `max_side`, scaled down (area-averaged, in
    the one conversion from YUV) so that its long side is at most that."""
    long_side = max(frame.width, frame.height)
    if max_side and long_side > max_side:
        s = max_side / long_side
        bgr = frame.to_ndarray(width=round(frame.width * s), height=round(frame.height * s), format="bgr24",
                               interpolation="AREA")
    else:
        bgr = frame.to_ndarray(format="bgr24")
    turns = display_rotation(frame) // 90
    return np.ascontiguousarray(np.rot90(bgr, k=-turns)) if turns else bgr


def read_frames(path: str | Path, wanted: Iterable[int]) -> Iterator[tuple[int, np.ndarray]]:
    """The frames at the given presentation-order indices, upright BGR, in one sequential decode pass that
    stops after the last one wanted."""
    targets = sorted(set(wanted))
    if not targets:
        return
    path = Path(path)
    k = 0
    with open_media(path) as container:
        stream = container.streams.video[0]
        try:
            for index, frame in enumerate(container.decode(stream)):
                if index == targets[k]:
                    yield index, frame_to_bgr(frame)
                    k += 1
                    if k == len(targets):
                        return
        except av.error.FFmpegError as exc:
            raise MediaError(path, f"decoding failed near frame {targets[k]} ({exc.strerror or exc})") from None
