"""Frame selection across deliveries: each real clip at its native size and re-encoded as an upscale.

For every clip in ../shared/media (those present), builds the upscale (libswscale + x264 crf 20, cached in
bench/.cache/frame_selection), runs sampling (`frames`) and the selection of `frames_processed` on both, and
reports: frames sampled and kept, shots keeping frames, the detail size found (content pixels per pixel
of real detail, working size), kept frames of one delivery with a kept frame of the other within 0.5 s,
and how many frames the old rule (a fixed 512 px working size, Laplacian variance >= 80) let through.
The Sintel trailer is also delivered letterboxed (1920x816 picture in 1920x1080).

Usage: python bench/frame_selection.py [--only sintel,snow] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
from media_helpers import upscale_video  # noqa: E402

SHARED = ROOT.parent / "shared" / "media"
CACHE = ROOT / "bench" / ".cache" / "frame_selection"
CLIPS = {  # name: (file, upscale width, height, letterbox picture height or None)
    "sintel_trailer": ("sintel_trailer/sintel.mp4", 1920, 1080, None),
    "sintel_trailer_letterboxed": ("sintel_trailer/sintel.mp4", 1920, 1080, 816),
    "sintel_snow_fight": ("sintel_snow_fight/clip_03_sintel.mp4", 1920, 1080, None),
    "caminandes_llama": ("caminandes_llama/clip_02_caminandes.mp4", 1920, 1080, None),
    "tos_bridge": ("tos_bridge/clip_01_tears_of_steel.mp4", 1920, 1080, None),
    "tos_battle": ("tos_battle/tears-of-steel-battle-clip-medium.webm", 1920, 796, None),
    "bbb_480p": ("bbb_480p_51_30s/big_buck_bunny_480p_30s.mp4", 1920, 1080, None),
    "bbb_720p": ("bbb_720p_30s/big_buck_bunny_0_30.webm", 1920, 1080, None),
}


def letterboxed(src: Path, dst: Path, width: int, height: int, picture_height: int) -> Path:
    """`src` scaled to width x picture_height and centred between black bars in width x height."""
    top = (height - picture_height) // 2
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        stream = out.add_stream("libx264", rate=inp.streams.video[0].average_rate or 24)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "20", "preset": "veryfast"}
        canvas = np.zeros((height, width, 3), np.uint8)
        for frame in inp.decode(video=0):
            canvas[top:top + picture_height] = frame.to_ndarray(format="rgb24", width=width, height=picture_height)
            for packet in stream.encode(av.VideoFrame.from_ndarray(canvas, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return dst


def upscale(name: str) -> Path:
    rel, width, height, picture = CLIPS[name]
    out = CACHE / f"{name}_{width}x{height}.mp4"
    if not out.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        part = out.with_suffix(".part.mp4")
        if picture:
            letterboxed(SHARED / rel, part, width, height, picture)
        else:
            upscale_video(SHARED / rel, part, width, height)
        part.rename(out)
    return out


def old_rule_passes(image: np.ndarray) -> bool:
    """The rule before: every frame measured at 512 px on its longer side, fixed thresholds."""
    from animproc.image.quality import blur_effect

    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    scale = 512 / max(gray.shape)
    if scale < 1:
        gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return (cv2.Laplacian(gray, cv2.CV_32F).var() >= 80 and blur_effect(gray) <= 0.6
            and 10 <= gray.mean() <= 240 and gray.std() >= 12)


def select(path: Path) -> dict:
    from animproc.config import FilmConfig
    from animproc.image.curate import curate
    from animproc.image.preview import read_image
    from animproc.video.probe import probe_media
    from animproc.video.scan import FrameWriter, scan_film

    config = FilmConfig()
    info = probe_media(path)
    with tempfile.TemporaryDirectory(prefix="bench-select-") as tmp:
        folder = Path(tmp)
        scan = scan_film(path, config, info.fps, FrameWriter(lambda n, b: (folder / n).write_bytes(b)),
                         skip_loop_filter="noref")
        table = scan.frames_table()
        load = lambda i: read_image(folder / table.loc[i, "image"])  # noqa: E731
        started = time.perf_counter()
        result = curate(table, load, config)
        seconds = time.perf_counter() - started
        old = sum(old_rule_passes(load(i)) for i in range(len(table)))
    out = result.frames
    shots = out.groupby("shot_id")["kept"].any()
    return {"size": f"{info.width}x{info.height}", "sampled": len(out), "kept": int(out["kept"].sum()),
            "shots": len(shots), "shots_kept": int(shots.sum()), "old_rule_passes": int(old),
            "pixels_per_detail": result.detail.pixels_per_detail if result.detail else None,
            "working_size": "x".join(map(str, result.detail.working_size)) if result.detail else None,
            "select_seconds": round(seconds, 2), "warning": result.warning,
            "kept_times": out.loc[out["kept"], "time"].round(3).tolist()}


def matched(a: list[float], b: list[float], within: float = 0.5) -> float:
    if not a or not b:
        return 0.0
    other = np.asarray(b)
    return round(float(np.mean([np.abs(other - t).min() <= within for t in a])), 2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", default="", help="comma-separated clip names")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    names = [n for n in CLIPS if not args.only or n in args.only.split(",")]
    rows = []
    for name in names:
        source = SHARED / CLIPS[name][0]
        if not source.exists():
            print(f"{name}: missing {source}, skipped", file=sys.stderr)
            continue
        native, big = select(source), select(upscale(name))
        row = {"clip": name, "native": native, "upscale": big,
               "kept_ratio": round(big["kept"] / max(native["kept"], 1), 2),
               "matched_native_in_upscale": matched(native["kept_times"], big["kept_times"]),
               "matched_upscale_in_native": matched(big["kept_times"], native["kept_times"])}
        rows.append(row)
        print(f"{name}: native {native['size']} kept {native['kept']}/{native['sampled']} "
              f"(shots {native['shots_kept']}/{native['shots']}, px/detail {native['pixels_per_detail']}, "
              f"work {native['working_size']}, old rule {native['old_rule_passes']}) | upscale {big['size']} "
              f"kept {big['kept']}/{big['sampled']} (shots {big['shots_kept']}/{big['shots']}, px/detail "
              f"{big['pixels_per_detail']}, work {big['working_size']}, old rule {big['old_rule_passes']}) | "
              f"kept ratio {row['kept_ratio']}, matched {row['matched_native_in_upscale']}/"
              f"{row['matched_upscale_in_native']}", flush=True)
        for label, r in (("native", native), ("upscale", big)):
            if r["warning"]:
                print(f"  {label} warning: {r['warning']}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
