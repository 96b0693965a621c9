"""A corpus of bad and odd media, generated: files `film add` must refuse (with the file and the problem named)
and odd files it must accept whose products must still be valid (no speech, many audio streams, 1x1)."""
from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np

from media_helpers import mux_tone, textured, write_video


def write_av(path: Path, frames: list[np.ndarray], audio_streams: int = 1, seconds: float = 2.0,
             pix_fmt: str = "yuv420p", codec: str = "libx264") -> Path:
    """Video frames at 24 fps plus `audio_streams` AAC tracks of a 440 Hz tone (no speech in any)."""
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as c:
        v = c.add_stream(codec, rate=24)
        v.width, v.height, v.pix_fmt = w, h, pix_fmt
        tracks = []
        for _ in range(audio_streams):
            a = c.add_stream("aac", rate=16000)
            a.layout = "mono"
            tracks.append(a)
        for img in frames:
            for p in v.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in v.encode():
            c.mux(p)
        for a in tracks:
            mux_tone(c, a, seconds, 440, 0.3)
    return path


def _no_frames(path: Path) -> Path:
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=24)
        s.width, s.height, s.pix_fmt = 64, 64, "yuv420p"
        c.start_encoding()
    return path


def _audio_only(path: Path) -> Path:
    frames = [textured(0, 32, 32)] * 2
    write_av(path.with_suffix(".tmp.mp4"), frames)
    with av.open(str(path.with_suffix(".tmp.mp4"))) as src, av.open(str(path), "w") as dst:
        a = dst.add_stream_from_template(src.streams.audio[0])
        for packet in src.demux(src.streams.audio[0]):
            if packet.dts is not None:
                packet.stream = a
                dst.mux(packet)
    path.with_suffix(".tmp.mp4").unlink()
    return path


def refused_media(folder: Path) -> dict[str, tuple[Path, str]]:
    """name -> (file, what the refusal must say)."""
    folder.mkdir(parents=True, exist_ok=True)
    good = write_video(folder / "good.mp4", [textured(k // 6) for k in range(24)]).read_bytes()
    image = (np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8)
    files = {
        "empty": (b"", "not a readable media file|empty"),
        "text": (b"just some notes, not a video\n" * 30, "not a readable media file|cannot|invalid"),
        "random bytes": (np.random.default_rng(1).bytes(20000), "not a readable media file|cannot|invalid"),
        "truncated": (good[: len(good) // 3], "truncated|corrupt|cannot|not a readable"),
        "header then zeros": (good[:64] + bytes(5000), "truncated|corrupt|cannot|not a readable|no decodable"),
        "png renamed mp4": (cv2.imencode(".png", image)[1].tobytes(), "still image"),
        "jpeg renamed mkv": (cv2.imencode(".jpg", image)[1].tobytes(), "still image"),
    }
    out = {}
    for name, (data, problem) in files.items():
        path = folder / (name.replace(" ", "_") + (".mkv" if "mkv" in name else ".mp4"))
        path.write_bytes(data)
        out[name] = (path, problem)
    out["video stream without frames"] = (_no_frames(folder / "no_frames.mkv"),
                                          "not a readable media file|no decodable frames|0 frames")
    out["audio only"] = (_audio_only(folder / "audio_only.mp4"), "no video stream")
    return out


def odd_media(folder: Path) -> dict[str, Path]:
    """Usable but unusual: accepted by `film add`."""
    folder.mkdir(parents=True, exist_ok=True)
    frames = [textured(k // 12, 64, 96) for k in range(48)]
    return {"tone": write_av(folder / "tone.mp4", frames),
            "eight audio streams": write_av(folder / "eight.mp4", frames, audio_streams=8),
            "1x1": write_av(folder / "tiny.mp4", [np.full((1, 1, 3), 9 * k, np.uint8) for k in range(24)],
                            audio_streams=0, pix_fmt="yuv444p")}
