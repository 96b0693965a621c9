"""Helpers that generate small test videos."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def write_video(path: Path, frames: list[np.ndarray], pts_ms: list[int] | None = None, fps: int = 24,
                faststart: bool = False) -> Path:
    """Encode RGB frames as H.264; with `pts_ms`, each frame gets that timestamp (variable frame rate)."""
    h, w = frames[0].shape[:2]
    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), "w", options=options) as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.options = {"crf": "18", "bf": "0"}
        if pts_ms is not None:
            s.time_base = Fraction(1, 1000)
            s.codec_context.time_base = Fraction(1, 1000)
        for i, img in enumerate(frames):
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            if pts_ms is not None:
                f.pts, f.time_base = pts_ms[i], Fraction(1, 1000)
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def textured(seed: int, h: int = 144, w: int = 256) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.integers(40, 220, (h // 8, w // 8, 3)).astype(np.uint8)
    import cv2

    return cv2.resize(base, (w, h), interpolation=cv2.INTER_CUBIC)


def detailed(seed: int, h: int = 360, w: int = 640) -> np.ndarray:
    """A sharp image: hard-edged shapes in random colours over a smooth background."""
    import cv2

    rng = np.random.default_rng(seed)
    img = textured(seed, h, w).copy()
    for _ in range(60):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        if rng.random() < 0.5:
            cv2.rectangle(img, (x, y), (x + int(rng.integers(5, 80)), y + int(rng.integers(5, 60))), colour, -1)
        else:
            cv2.circle(img, (x, y), int(rng.integers(3, 40)), colour, -1)
    return img


def set_mp4_rotation(path: Path, clockwise: int) -> Path:
    """Write a display matrix into an mp4's track header, as phones do for portrait video."""
    import math
    import struct

    data = bytearray(path.read_bytes())
    i = data.find(b"tkhd")
    version = data[i + 4]
    offset = i + 8 + (20 if version == 0 else 32) + 8 + 8
    angle = math.radians(clockwise)
    a, b = round(math.cos(angle)) * 0x10000, round(math.sin(angle)) * 0x10000
    matrix = [a, b, 0, -b, a, 0, 0, 0, 0x40000000]
    data[offset:offset + 36] = struct.pack(">9I", *[v & 0xFFFFFFFF for v in matrix])
    path.write_bytes(bytes(data))
    return path


def natural_scene(seed: int, h: int, w: int) -> np.ndarray:
    """A picture with a natural picture's spectrum (power falling as 1/f^2 in colour and brightness) and
    hard-edged shapes on it, sharp to the pixel."""
    import cv2

    rng = np.random.default_rng(seed)
    fy, fx = np.fft.fftfreq(h)[:, None], np.fft.fftfreq(w)[None, :]
    amplitude = 1 / np.maximum(np.hypot(fx, fy), 1 / max(h, w))
    layers = []
    for _ in range(3):
        field = np.real(np.fft.ifft2(amplitude * np.exp(2j * np.pi * rng.random((h, w)))))
        layers.append(120 + 45 * (field - field.mean()) / field.std())
    img = np.clip(np.dstack(layers), 0, 255).astype(np.uint8)
    for _ in range(30):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        cv2.circle(img, (x, y), int(rng.integers(3, max(4, h // 8))), colour, -1)
    return img


def upscale_video(src: Path, dst: Path, width: int, height: int, preset: str = "veryfast") -> Path:
    """Re-encode `src` at width x height (libswscale's scaler, x264 crf 20), as a delivered upscale is."""
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        stream = out.add_stream("libx264", rate=inp.streams.video[0].average_rate or 24)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "20", "preset": preset}
        stream.thread_count = 0
        for frame in inp.decode(video=0):
            img = frame.to_ndarray(format="rgb24", width=width, height=height)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return dst


def mux_tone(container, stream, seconds: float, hz: float, amplitude: float, rate: int = 16000) -> None:
    """Encode a mono sine tone into `stream` (an AAC stream of `container` at `rate`) and flush it."""
    t = np.arange(int(rate * seconds)) / rate
    tone = (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.float32)[None]
    for k in range(0, tone.shape[1], 1024):
        f = av.AudioFrame.from_ndarray(np.ascontiguousarray(tone[:, k:k + 1024]), format="fltp", layout="mono")
        f.sample_rate, f.pts, f.time_base = rate, k, Fraction(1, rate)
        for p in stream.encode(f):
            container.mux(p)
    for p in stream.encode():
        container.mux(p)
