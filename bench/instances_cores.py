"""Wall and CPU seconds of the `instances` step's core on a film's kept frames, the frames cut on one thread
against several (`EmbeddedSegmenter(threads=N)`, ANIMPROC_SEGMENTER_THREADS in the assets), and whether the
products are the same file for file. The core is what the asset runs between loading its models and
publishing: faces detected on each kept frame, the frames' GrabCuts, categories, cutouts and overlays encoded
and written (`segment_frames`), the tables written.

    .venv/bin/python bench/instances_cores.py FILE [--start 20 --seconds 40] [--threads 1,2] [--repeat 1] [--frames N]

The kept frames come from the pipeline itself: `--start/--seconds` remux that excerpt of FILE (as
bench/temporal_cpu.py does), and `animproc run --select frames_processed` makes them once, in a data root
cached under bench/.cache/instances_cores/. Each measurement runs in a process of its own (models loaded
and warmed before the clock starts), so its CPU seconds (user + system of every thread) and peak RSS are its
own. The load average is printed with each row: on a shared machine wall seconds follow the others' load."""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CACHE = ROOT / "bench" / ".cache" / "instances_cores"
FILM = "bench"


def prepared(source: Path, start: float, seconds: float) -> Path:
    """The data root holding `frames_processed` of the excerpt (made on the first call)."""
    from bench.temporal_cpu import excerpt

    work = CACHE / f"{source.stem}_{start:g}_{seconds:g}"
    done = work / "ready"
    if done.exists():
        return work / "data"
    home, data, configs = work / "home", work / "data", work / "configs"
    for d in (home, data, configs):
        d.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
    (configs / f"{FILM}.yaml").write_text("review: auto\n")
    clip = excerpt(source, work / f"excerpt{source.suffix}", start, seconds)
    env = {**os.environ, "DAGSTER_HOME": str(home), "ANIMPROC_DATA": str(data), "ANIMPROC_CONFIG_DIR": str(configs),
           "PYTHONPATH": str(ROOT)}
    cli = [sys.executable, "-m", "animproc_dagster.cli"]
    subprocess.run([*cli, "film", "add", FILM, str(clip)], env=env, check=True, cwd=ROOT)
    subprocess.run([*cli, "run", FILM, "--select", "frames_processed"], env=env, check=True, cwd=ROOT)
    done.write_text("")
    return data


def digest(folder: Path) -> dict[str, str]:
    """sha256 of every file under `folder`, by relative path."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def measure(data: Path, threads: int, limit: int | None = None) -> dict:
    """One run of the core with `threads` segmenting threads (on the first `limit` kept frames), in this process."""
    from animproc.catalogue import FilmProducts
    from animproc.config import FilmConfig
    from animproc.image.preview import read_image
    from animproc.instances.segment import EmbeddedSegmenter
    from animproc.instances.stages import segment_frames
    from animproc.storage import Storage
    from resources.face_analyzer import FaceAnalyzerResource

    config = FilmConfig()
    products = FilmProducts(Storage(data), FILM)
    frames = products.table("frames_processed")
    frames = frames[frames["kept"]].head(limit)
    detector = FaceAnalyzerResource().model(config).detector
    segment = EmbeddedSegmenter(threads=threads)
    first = read_image(products.resolve(frames["path"].iloc[0]))
    segment(first, detector(first))  # models, OpenCV's kernels and allocator warmed
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    load = os.getloadavg()[0]
    wall, cpu = time.perf_counter(), time.process_time()
    with products.publish("instances") as out:
        table, _, _, detections = segment_frames(frames, products, out, segment, detector, config)
        out.table("instances", table)
        out.table("face_detections", detections)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    files = digest(Path(str(products.folder("instances"))))
    return {"threads": threads, "frames": len(frames), "instances": len(table), "wall_s": round(wall, 2),
            "cpu_s": round(cpu, 2), "rss_added_mb": round((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                                                           - rss_before) / 1024),
            "load_1min": [round(load, 1), round(os.getloadavg()[0], 1)],
            "products": hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()[:16],
            "files": len(files)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file", type=Path, nargs="?")
    parser.add_argument("--start", type=float, default=20.0)
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts, measured in turn")
    parser.add_argument("--repeat", type=int, default=1, help="rounds of the thread counts")
    parser.add_argument("--frames", type=int, help="only the first N kept frames (shorter runs, interleaved)")
    parser.add_argument("--measure", type=int, help=argparse.SUPPRESS)  # one measurement (a child process)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.data, args.measure, args.frames)))
        return
    if args.file is None:
        parser.error("FILE is needed")
    data = prepared(args.file.resolve(), args.start, args.seconds)
    rows = []
    for _ in range(args.repeat):
        for n in (int(v) for v in args.threads.split(",")):
            limit = ["--frames", str(args.frames)] if args.frames else []
            child = subprocess.run([sys.executable, __file__, "--measure", str(n), "--data", str(data), *limit],
                                   check=True, capture_output=True, text=True, cwd=ROOT,
                                   env={**os.environ, "PYTHONPATH": str(ROOT)})
            rows.append(json.loads(child.stdout.strip().splitlines()[-1]))
            print(json.dumps(rows[-1]), flush=True)
    print(json.dumps({"file": str(args.file), "start": args.start, "seconds": args.seconds,
                      "same_products": len({r["products"] for r in rows}) == 1, "cpus": os.cpu_count()}))


if __name__ == "__main__":
    main()
