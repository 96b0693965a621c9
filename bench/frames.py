"""Benchmark of `shots` + `frames` against the decode floor and the scenedetect CLI, in one run.

Builds a >= 5-minute 1080p H.264 file from the Sintel trailer (scaled and looped; cached in bench/.cache),
then measures, each stage in its own process so peak RSS is its own:
  floor       PyAV decode of every frame with default decoder options
  ours        probe + the single pass behind `shots` and `frames` (detection, sampling, JPEG writing),
              exactly as the asset calls it
  ours_x2     the same on a file twice as long (remuxed, no re-encode): memory must not grow
  scenedetect `scenedetect -i FILE detect-adaptive` (the CLI, default settings)
Then accuracy of boundaries on real footage with a reference (the Sintel trailer, labelled by eye in
bench/reference/) and on the sample film (exact ground truth): ours vs PySceneDetect's default detectors.

Usage: python bench/frames.py [--seconds 300] [--skip-accuracy]
"""
from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import media  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def stage(name: str, path: str) -> dict:
    """Run one measured stage in this process; prints JSON with seconds and peak RSS. Imports happen
    before the clock starts: they are paid once per process, not per film."""
    import av

    if name == "ours":
        from animproc.config import FilmConfig
        from animproc.video.probe import probe_media
        from animproc.video.scan import FrameWriter, scan_film
    started = time.perf_counter()
    extra = {}
    if name == "floor":
        with av.open(path) as c:
            n = sum(1 for _ in c.decode(video=0))
        extra["frames"] = n
    elif name == "ours":
        out = Path(tempfile.mkdtemp(prefix="bench-frames-"))
        try:
            info = probe_media(path)
            config = FilmConfig()
            writer = FrameWriter(lambda n, b: (out / n).write_bytes(b))
            result = scan_film(path, config, info.fps, writer, skip_loop_filter="noref")
            extra = {"frames": result.frame_count, "shots": len(result.shots), "written": len(result.frames)}
        finally:
            shutil.rmtree(out, ignore_errors=True)
    elif name == "scenedetect":
        exe = Path(sys.executable).with_name("scenedetect")
        proc = subprocess.run([str(exe), "-q", "-i", path, "detect-adaptive", "list-scenes", "-n", "-q"],
                              capture_output=True, text=True)
        if proc.returncode:
            raise SystemExit(proc.stderr)
    seconds = time.perf_counter() - started
    peak = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    return {"stage": name, "seconds": round(seconds, 2), "peak_rss_mb": round(peak / 1024, 1), **extra}


def accuracy() -> list[tuple[str, str, object]]:
    from scenedetect import AdaptiveDetector, ContentDetector, detect

    from animproc.config import FilmConfig
    from animproc.sample.film import render_sample_film
    from animproc.video.evaluate import score_boundaries
    from animproc.video.probe import probe_media
    from animproc.video.scan import FrameWriter, scan_film

    rows = []
    ref = json.loads((ROOT / "bench" / "reference" / "sintel_trailer_shots.json").read_text())
    sintel = media.SINTEL
    tmp = Path(tempfile.mkdtemp(prefix="bench-sample-"))
    truth = render_sample_film(tmp / "sample.mp4")
    cases = [("sintel trailer (by-eye reference)", sintel, [(t["first"], t["last"]) for t in ref["transitions"]]),
             ("sample film (exact ground truth)", tmp / "sample.mp4",
              [(t["first"], t["last"]) for t in truth["transitions"] if t["boundary"] is not None])]
    for label, path, reference in cases:
        ours = scan_film(path, FilmConfig(), probe_media(path).fps, FrameWriter(lambda n, b: None))
        rows.append((label, "animproc default", score_boundaries(reference, [s.start_frame for s in ours.shots[1:]])))
        for name, det in (("scenedetect detect-adaptive", AdaptiveDetector()), ("scenedetect detect-content", ContentDetector())):
            scenes = detect(str(path), det)
            rows.append((label, name, score_boundaries(reference, [s[0].frame_num for s in scenes[1:]])))
    shutil.rmtree(tmp, ignore_errors=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-accuracy", action="store_true")
    args = media.parse_or_run_stage(stage, parser)
    if args is None:
        return
    src = media.long_1080p(args.seconds)
    x2 = media.doubled(src)
    print(f"input: {src.relative_to(ROOT)} (and {x2.name}, twice as long)")
    results = {name: media.run_stage(__file__, name, src) for name in ("floor", "ours", "scenedetect")}
    results["ours_x2"] = media.run_stage(__file__, "ours", x2)
    floor = results["floor"]["seconds"]
    print(f"\n{'stage':<14}{'seconds':>9}{'x floor':>9}{'peak RSS MB':>13}  notes")
    for name in ("floor", "ours", "scenedetect", "ours_x2"):
        r = results[name]
        notes = {k: v for k, v in r.items() if k not in ("stage", "seconds", "peak_rss_mb")}
        base = floor * (2 if name == "ours_x2" else 1)
        print(f"{name:<14}{r['seconds']:>9.2f}{r['seconds'] / base:>9.2f}{r['peak_rss_mb']:>13.1f}  {notes or ''}")
    print(f"\nours / decode floor: {results['ours']['seconds'] / floor:.3f}x (target <= 1.1x)")
    print(f"ours / scenedetect CLI: {results['ours']['seconds'] / results['scenedetect']['seconds']:.3f}x")
    print(f"peak RSS at 2x length / 1x length: {results['ours_x2']['peak_rss_mb'] / results['ours']['peak_rss_mb']:.3f}")
    if not args.skip_accuracy:
        print(f"\n{'footage':<36}{'detector':<30}{'precision':>10}{'recall':>8}{'F1':>7}  matched/ref/detected")
        for label, name, s in accuracy():
            print(f"{label:<36}{name:<30}{s.precision:>10.3f}{s.recall:>8.3f}{s.f1:>7.3f}  {s.matched}/{s.reference}/{s.detected}")


if __name__ == "__main__":
    main()
