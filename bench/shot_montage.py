"""A montage of real shots from ../shared/media joined by transitions of known kind and extent, for the shot
boundary benchmark's check split: cuts between different films, cross-dissolves, wipes (the new picture sweeping
in across the old one) and dips through black, with exact ground truth. The shots are stretches inside one
labelled shot of each source clip; the transitions are made here, so they are cleaner than a film's own (a
linear blend of two moving shots), but they put every detector on pictures it was not chosen on.

    .venv/bin/python bench/shot_montage.py   (builds bench/.cache/shot_montage.mp4, prints its transitions)"""
from __future__ import annotations

import sys
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "media"
OUT = ROOT / "bench" / ".cache" / "shot_montage.mp4"
WIDTH, HEIGHT, FPS = 640, 360, 24

# (clip, first frame, frames): each stretch lies inside one shot of the labelled references.
SHOTS = [
    ("caminandes_llama/clip_02_caminandes.mp4", 20, 60),
    ("tos_battle/tears-of-steel-battle-clip-medium.webm", 400, 60),
    ("sintel_trailer/sintel.mp4", 575, 46),
    ("bbb_480p_51_30s/big_buck_bunny_480p_30s.mp4", 400, 60),
    ("sintel_snow_fight/clip_03_sintel.mp4", 0, 50),
    ("tos_bridge/clip_01_tears_of_steel.mp4", 100, 60),
    ("tos_battle/tears-of-steel-battle-clip-medium.webm", 1290, 50),
    ("sintel_trailer/sintel.mp4", 880, 75),
    ("bbb_720p_30s/big_buck_bunny_0_30.webm", 290, 60),
    ("sintel_snow_fight/clip_03_sintel.mp4", 141, 34),
    ("caminandes_llama/clip_02_caminandes.mp4", 150, 60),
    ("tos_battle/tears-of-steel-battle-clip-medium.webm", 1000, 60),
    ("tos_bridge/clip_01_tears_of_steel.mp4", 22, 42),
    ("sintel_trailer/sintel.mp4", 1013, 60),
]
# How each shot after the first comes in, and over how many frames.
JOINS = [("cut", 0), ("dissolve", 12), ("wipe_right", 12), ("cut", 0), ("fade", 16), ("dissolve", 24),
         ("wipe_down", 18), ("cut", 0), ("wipe_right", 24), ("cut", 0), ("dissolve", 18), ("fade", 24), ("cut", 0)]


def _letterboxed(frame: av.VideoFrame) -> np.ndarray:
    """The frame scaled into WIDTHxHEIGHT keeping its aspect, on black."""
    scale = min(WIDTH / frame.width, HEIGHT / frame.height)
    w, h = int(round(frame.width * scale)) // 2 * 2, int(round(frame.height * scale)) // 2 * 2
    rgb = frame.to_ndarray(format="rgb24", width=w, height=h)
    out = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    y, x = (HEIGHT - h) // 2, (WIDTH - w) // 2
    out[y:y + h, x:x + w] = rgb
    return out


def _stretch(clip: str, first: int, count: int) -> list[np.ndarray]:
    path = SHARED / clip
    if not path.exists():
        sys.exit(f"benchmark input missing: {path}")
    frames = []
    with av.open(str(path)) as src:
        for i, frame in enumerate(src.decode(video=0)):
            if i >= first:
                frames.append(_letterboxed(frame))
            if len(frames) == count:
                break
    return frames


def _join(old: np.ndarray, new: np.ndarray, kind: str, q: float) -> np.ndarray:
    """One frame of a transition `q` of the way (0 < q < 1) from `old` to `new`."""
    if kind == "dissolve":
        return (old * (1 - q) + new * q).astype(np.uint8)
    if kind == "fade":
        level = abs(1 - 2 * q)
        return ((old if q < 0.5 else new) * level).astype(np.uint8)
    out = old.copy()
    if kind == "wipe_right":
        edge = int(round(q * WIDTH))
        out[:, :edge] = new[:, :edge]
    else:
        edge = int(round(q * HEIGHT))
        out[:edge] = new[:edge]
    return out


def build() -> tuple[Path, list[dict]]:
    """The montage file (built once, cached) and its transitions: `first`/`last` bound the frames where the
    boundary may fall (a cut: the new shot's first frame; a gradual join: its mixed frames)."""
    stretches = [_stretch(*shot) for shot in SHOTS]
    frames: list[np.ndarray] = list(stretches[0])
    transitions = []
    for (kind, length), stretch in zip(JOINS, stretches[1:]):
        if kind == "cut":
            transitions.append({"kind": "cut", "first": len(frames), "last": len(frames)})
            frames += stretch
            continue
        # The last `length` frames of the old shot and the first of the new one overlap.
        overlap_old, overlap_new = frames[-length:], stretch[:length]
        start = len(frames) - length
        frames[start:] = [_join(a, b, kind, (k + 1) / (length + 1))
                          for k, (a, b) in enumerate(zip(overlap_old, overlap_new))]
        transitions.append({"kind": "fade_in" if kind == "fade" else kind.split("_")[0], "first": start,
                            "last": start + length - 1})
        frames += stretch[length:]
    if not OUT.exists():
        OUT.parent.mkdir(parents=True, exist_ok=True)
        tmp = OUT.with_suffix(".part.mp4")
        with av.open(str(tmp), "w") as dst:
            vs = dst.add_stream("libx264", rate=FPS)
            vs.width, vs.height, vs.pix_fmt = WIDTH, HEIGHT, "yuv420p"
            vs.options = {"crf": "23", "preset": "medium"}
            for rgb in frames:
                for packet in vs.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                    dst.mux(packet)
            for packet in vs.encode():
                dst.mux(packet)
        tmp.replace(OUT)
    return OUT, transitions


if __name__ == "__main__":
    path, transitions = build()
    print(path)
    for t in transitions:
        print(t)
