"""Temporal benchmark: on the >= 5-minute 1080p file of the frames benchmark (Sintel trailer scaled and looped,
cached in bench/.cache), each stage in its own process, in one run: PyAV decode-only time (the floor), then
shot_structure's scan, motion (DIS flow + tracks + heuristic actions; faces looked for twice a second; pose
skipped, as without a configured model) and effects_catalog's scan, each as a ratio to the floor, with peak RSS;
then motion again on the file doubled in length, to show its memory stays flat.

    .venv/bin/python bench/temporal.py [--seconds 300]
    .venv/bin/python bench/temporal.py --labelled

Shots come from the 480p trailer (the long file is that trailer looped), outside the timed stages.

`--labelled` measures accuracy instead of speed, on the real clips labelled by eye: shot scale and camera
movement before and after issue 18's fallbacks (bench/structure_labels.py), shot boundaries of the default
detectors, TransNetV2 and their combinations (bench/shot_combinations.py) and the embedded BlazePose on the
boxed characters (bench/pose.py); each runs in its own process and prints its table."""
from __future__ import annotations

import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import media  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"shot_structure": 1.5, "motion": 3.0}


def _shots(path: str):
    """The trailer's shots, repeated for every loop of the long file."""
    import av
    import pandas as pd

    from animproc.config import FilmConfig
    from animproc.video.probe import probe_media
    from animproc.video.scan import FrameWriter, scan_film

    trailer = scan_film(media.SINTEL, FilmConfig(), probe_media(media.SINTEL).fps, FrameWriter(lambda n, b: None))
    base = trailer.shots_table()
    with av.open(path) as c:
        total = c.streams.video[0].frames
    n = int(base["end_frame"].max()) + 1
    loops = [base.assign(start_frame=base["start_frame"] + k * n, end_frame=base["end_frame"] + k * n)
             for k in range(-(-total // n))]
    table = pd.concat(loops, ignore_index=True)
    table = table[table["start_frame"] < total].reset_index(drop=True)
    table["shot_id"] = range(len(table))
    return table


def stage(name: str, path: str) -> dict:
    """One stage in this process: JSON with seconds and peak RSS. Imports and shot lists come before the clock."""
    import av

    from animproc.config import TemporalConfig
    from animproc.temporal.effects import scan_effects
    from animproc.temporal.flow import DisFlow
    from animproc.temporal.motion import scan_motion
    from animproc.temporal.structure import scan_structure
    from animproc.video.probe import probe_media
    from resources.face_analyzer import FaceAnalyzerResource

    config = TemporalConfig()
    detector = FaceAnalyzerResource().model().detector  # ANIMPROC_FACE_ANALYZER picks it, as in the assets
    shots = _shots(path) if name != "floor" else None
    fps = probe_media(path).fps
    extra = {}
    started = time.perf_counter()
    if name == "floor":
        with av.open(path) as c:
            extra["frames"] = sum(1 for _ in c.decode(video=0))
    elif name == "shot_structure":
        found = scan_structure(path, shots, fps, config, detector)
        extra["shots"] = len(found)
    elif name == "motion":
        results = scan_motion(path, shots, fps, config, DisFlow(), None, detector)
        extra = {"shots": len(results), "tracks": sum(len(r.tracks) for r in results),
                 "action_segments": sum(len(r.actions) for r in results)}
    elif name == "effects_catalog":
        scan = scan_effects(path, shots, fps, config.effects_fps, 2 * config.analysis_width)
        extra["samples"] = len(scan.samples)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"stage": name, "seconds": round(seconds, 2), "peak_rss_mb": round(peak / 1024, 1), **extra}


LABELLED = ("structure_labels.py", "shot_combinations.py", "pose.py")


def labelled() -> None:
    import subprocess

    for script in LABELLED:
        print(f"\n== bench/{script}", flush=True)
        subprocess.run([sys.executable, str(Path(__file__).resolve().parent / script)], check=True)


def main() -> None:
    if "--labelled" in sys.argv:
        labelled()
        return
    args = media.parse_or_run_stage(stage)
    if args is None:
        return
    src = media.long_1080p(args.seconds)
    x2 = media.doubled(src)
    print(f"input: {src.relative_to(ROOT)} (and {x2.name}, twice as long)")
    names = ("floor", "shot_structure", "motion", "effects_catalog")
    results = {n: media.run_stage(__file__, n, src) for n in names}
    results["motion_x2"] = media.run_stage(__file__, "motion", x2)
    floor = results["floor"]["seconds"]
    print(f"\n{'stage':<16}{'seconds':>9}{'x floor':>9}{'target':>8}{'peak RSS MB':>13}  notes")
    for n in (*names, "motion_x2"):
        r = results[n]
        notes = {k: v for k, v in r.items() if k not in ("stage", "seconds", "peak_rss_mb")}
        base = floor * (2 if n == "motion_x2" else 1)
        target = TARGETS.get(n)
        print(f"{n:<16}{r['seconds']:>9.2f}{r['seconds'] / base:>9.2f}{(f'<= {target}' if target else ''):>8}"
              f"{r['peak_rss_mb']:>13.1f}  {notes or ''}")
    whole = sum(results[n]["seconds"] for n in names[1:]) / floor
    print(f"\nwhole temporal set / floor: {whole:.2f}x (target <= 6x)")
    print(f"motion peak RSS at 2x length / 1x length: "
          f"{results['motion_x2']['peak_rss_mb'] / results['motion']['peak_rss_mb']:.3f}")


if __name__ == "__main__":
    main()
