"""Builds the long benchmark inputs from the real clips in ../shared/media, cached under bench/.cache."""
from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "media"
CACHE = ROOT / "bench" / ".cache"
SINTEL = SHARED / "sintel_trailer" / "sintel.mp4"


def _resize_rgb(frame: av.VideoFrame, width: int, height: int) -> np.ndarray:
    return frame.to_ndarray(format="rgb24", width=width, height=height)


def long_1080p(min_seconds: float = 300.0, source: Path = SINTEL) -> Path:
    """Sintel trailer scaled to 1920x1080 and looped to at least `min_seconds`, H.264 (x264 preset fast)."""
    out = CACHE / f"sintel_1080p_{int(min_seconds)}s.mp4"
    if out.exists():
        return out
    if not source.exists():
        sys.exit(f"benchmark source missing: {source}")
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".part.mp4")
    with av.open(str(source)) as src:
        stream = src.streams.video[0]
        rate = stream.average_rate or Fraction(24)
        clip_seconds = float(stream.frames / rate)
    loops = int(np.ceil(min_seconds / clip_seconds))
    with av.open(str(tmp), "w") as dst:
        vs = dst.add_stream("libx264", rate=rate)
        vs.width, vs.height, vs.pix_fmt = 1920, 1080, "yuv420p"
        vs.options = {"preset": "fast", "crf": "20"}
        vs.thread_count = 0
        for _ in range(loops):
            with av.open(str(source)) as src:
                for frame in src.decode(video=0):
                    img = _resize_rgb(frame, 1920, 1080)
                    for packet in vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                        dst.mux(packet)
        for packet in vs.encode():
            dst.mux(packet)
    tmp.rename(out)
    return out




def doubled(path: Path) -> Path:
    """The same media twice in a row, its video and audio packets remuxed (no re-encode): twice the length,
    same content."""
    out = path.with_name(path.stem + "_x2.mp4")
    if out.exists():
        return out
    tmp = out.with_suffix(".part.mp4")
    with av.open(str(path)) as src, av.open(str(tmp), "w") as dst:
        pairs = {s.index: dst.add_stream_from_template(s) for s in src.streams if s.type in ("video", "audio")}
        shift: dict[int, int] = {}
        for loop in range(2):
            src.seek(0)
            first: dict[int, int] = {}
            last: dict[int, tuple[int, int]] = {}
            for packet in src.demux(*[src.streams[i] for i in pairs]):
                if packet.dts is None:
                    continue
                i = packet.stream.index
                first.setdefault(i, packet.dts)
                last[i] = (packet.dts, packet.duration or 0)
                if loop:
                    packet.pts = None if packet.pts is None else packet.pts + shift[i]
                    packet.dts += shift[i]
                packet.stream = pairs[i]
                dst.mux(packet)
            # the second copy's first packet follows the first copy's last one (B-frame dts start below 0)
            shift = {i: last[i][0] + last[i][1] - first[i] for i in last}
    tmp.rename(out)
    return out


def run_stage(script: str, name: str, path: Path) -> dict:
    """Run one stage of a benchmark script in a fresh process (`script --stage NAME PATH`), so imports, caches
    and peak RSS are the stage's own; returns the JSON it prints last."""
    import json
    import subprocess

    proc = subprocess.run([sys.executable, script, "--stage", name, str(path)], capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"stage {name} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def parse_or_run_stage(stage, parser=None):
    """The options every benchmark takes (--seconds; --stage NAME PATH for one measured stage). When run as a
    stage, runs `stage(NAME, PATH)`, prints its JSON and returns None; else returns the parsed options."""
    import argparse
    import json

    parser = parser or argparse.ArgumentParser()
    parser.add_argument("--stage", nargs=2, metavar=("NAME", "PATH"))
    parser.add_argument("--seconds", type=float, default=300.0)
    args = parser.parse_args()
    if args.stage:
        print(json.dumps(stage(*args.stage)))
        return None
    return args


if __name__ == "__main__":
    print(long_1080p(float(sys.argv[1]) if len(sys.argv) > 1 else 300.0))
