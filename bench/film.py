"""Whole-film benchmark: a film built from the real clips in ../shared/media through every asset, as a user
runs it (`animproc film add` + `animproc run` with `review: auto`, in a fresh data root), then the same film
at twice the length.

Prints per asset: seconds inside the step, what it processed (its materialisations' counts: frames, faces, seconds of
audio), real-time factor (step seconds / film seconds), CPU seconds of the
step (user + system of the step's own process where `animproc run` gives each step one, as with two or more
workers; else what the run's process tree used while the step ran; unlike seconds, barely changed by other work
on the machine), peak resident memory (PSS) of the run's process tree while the step ran and how much the step
added to it; then the 2x / 1x ratio per asset (seconds and CPU seconds) and each asset's CPU seconds split, by
the line through the two runs, into a fixed part (imports, model loading: whatever the film's length) and a rate
per film second (the per-film work), the time outside any step (imports, planning, Dagster start-up:
reported apart from the per-film work), PyAV's decode-only time of the same film (the floor of the visual side),
the whole run's real-time factor and its CPU seconds (every process of the run, exited ones included: the bench reaps them as their subreaper).

Usage: python bench/film.py [--minutes 10] [--height 1080] [--only-1x] [--gpu-slots N] [--json F]
       python bench/film.py --table-from F   (the table of a saved run)
(The run takes `animproc run`'s default, one step after another in its own process; ANIMPROC_WORKERS=2 or auto
measures steps side by side in step processes.)
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import media  # noqa: E402

ROOT = media.ROOT
RATE = 48000
FPS = Fraction(24)
# (video, audio laid under it when the clip has none): several characters, dialogue, music and effects
PLAYLIST = [
    ("sintel_trailer/sintel.mp4", None),
    ("sintel_snow_fight/clip_03_sintel.mp4", "speech_2spk/sample.wav"),
    ("tos_battle/tears-of-steel-battle-clip-medium.webm", None),
    ("caminandes_llama/clip_02_caminandes.mp4", "speech_4spk/diarizationExample.wav"),
    ("bbb_720p_30s/big_buck_bunny_0_30.webm", None),
    ("tos_bridge/clip_01_tears_of_steel.mp4", "speech_call_2spk/demo.mp3"),
]


def _audio(path: Path, seconds: float, offset: float = 0.0) -> np.ndarray:
    """`seconds` of stereo float32 at RATE from `path` starting at `offset` (zero-padded at the end)."""
    resampler = av.AudioResampler(format="fltp", layout="stereo", rate=RATE)
    with av.open(str(path)) as c:
        chunks = [g.to_ndarray() for f in c.decode(audio=0) for g in resampler.resample(f)]
    pcm = np.concatenate(chunks, axis=1) if chunks else np.zeros((2, 0), np.float32)
    pcm = pcm[:, int(offset * RATE):int((offset + seconds) * RATE)]
    out = np.zeros((2, int(round(seconds * RATE))), np.float32)
    out[:, :min(pcm.shape[1], out.shape[1])] = pcm[:, :out.shape[1]]
    return out


def _fit(img: np.ndarray, width: int, height: int) -> np.ndarray:
    """The picture scaled to fit width x height, letterboxed or pillarboxed on black (aspect kept)."""
    import cv2

    h, w = img.shape[:2]
    s = min(width / w, height / h)
    nw, nh = int(round(w * s)) // 2 * 2, int(round(h * s)) // 2 * 2
    canvas = np.zeros((height, width, 3), np.uint8)
    y, x = (height - nh) // 2, (width - nw) // 2
    canvas[y:y + nh, x:x + nw] = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA)
    return canvas


def build_film(minutes: float, height: int) -> Path:
    """The playlist, each clip scaled to height (16:9) at 24 fps with stereo AAC, looped to >= `minutes`;
    cached in bench/.cache. The call recording runs on from where the last loop left it, so the speech
    under the silent clips differs from loop to loop."""
    width = height * 16 // 9 // 2 * 2
    out = media.CACHE / f"film_{height}p_{minutes:g}min.mp4"
    if out.exists():
        return out
    missing = [p for v, a in PLAYLIST for p in (v, a) if p and not (media.SHARED / p).exists()]
    if missing:
        sys.exit(f"benchmark sources missing under {media.SHARED}: {', '.join(missing)}")
    media.CACHE.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".part.mp4")
    speech_offset: dict[str, float] = {}
    total = 0.0
    with av.open(str(tmp), "w") as dst:
        vs = dst.add_stream("libx264", rate=FPS)
        vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
        vs.options = {"preset": "veryfast", "crf": "21"}
        vs.thread_count = 0
        aus = dst.add_stream("aac", rate=RATE, layout="stereo")
        apts = 0
        while total < minutes * 60:
            for video, under in PLAYLIST:
                frames = 0
                with av.open(str(media.SHARED / video)) as src:
                    for frame in src.decode(video=0):
                        img = _fit(frame.to_ndarray(format="rgb24"), width, height)
                        for packet in vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                            dst.mux(packet)
                        frames += 1
                    has_audio = bool(src.streams.audio)
                seconds = frames / float(FPS)
                if has_audio:
                    pcm = _audio(media.SHARED / video, seconds)
                else:
                    off = speech_offset.get(under, 0.0)
                    pcm = _audio(media.SHARED / under, seconds, off)
                    speech_offset[under] = off + seconds
                for start in range(0, pcm.shape[1], 1024):
                    chunk = np.ascontiguousarray(pcm[:, start:start + 1024])
                    af = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
                    af.sample_rate, af.pts = RATE, apts
                    apts += chunk.shape[1]
                    for packet in aus.encode(af):
                        dst.mux(packet)
                total += seconds
                if total >= minutes * 60:
                    break
        for stream in (vs, aus):
            for packet in stream.encode():
                dst.mux(packet)
    tmp.rename(out)
    return out


def decode_seconds(path: Path) -> float:
    """PyAV decode-only time of every video frame (threaded, to numpy-free frames): the visual floor."""
    started = time.perf_counter()
    with av.open(str(path)) as c:
        c.streams.video[0].thread_type = "AUTO"
        for _ in c.decode(video=0):
            pass
    return time.perf_counter() - started


def _duration(path: Path) -> float:
    with av.open(str(path)) as c:
        return float(c.duration / av.time_base)


class RssSampler:
    """Samples the resident memory of a process and its children every `every` seconds."""

    def __init__(self, pid: int, every: float = 0.25):
        self.pid, self.every, self.samples = pid, every, []  # (time, tree PSS bytes, tree CPU seconds)
        self.cpu: dict[int, float] = {}  # pid -> its own CPU seconds (user + system) when last seen
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _tree_rss(self) -> int:
        """Resident memory of the tree now, as PSS (pages shared by forked step processes counted once, split
        between them; what a single process has resident where it is alone); CPU seconds of every process seen
        in it updated on the way."""
        total, todo = 0, [self.pid]
        while todo:
            pid = todo.pop()
            try:
                memory = Path(f"/proc/{pid}/smaps_rollup").read_text()
                total += next(int(x.split()[1]) for x in memory.splitlines() if x.startswith("Pss:")) * 1024
                ticks = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[11:13]
                self.cpu[pid] = sum(int(t) for t in ticks) / os.sysconf("SC_CLK_TCK")
                for task in Path(f"/proc/{pid}/task").iterdir():
                    todo += [int(c) for c in (task / "children").read_text().split()]
            except (OSError, StopIteration):
                continue
        return total

    def _run(self):
        while not self._stop.is_set():
            rss = self._tree_rss()
            self.samples.append((time.time(), rss, sum(self.cpu.values())))
            self._stop.wait(self.every)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def peak(self, start: float, end: float) -> tuple[int, int]:
        """Peak RSS within [start, end] and its rise over the RSS at start."""
        inside = [r for t, r, _ in self.samples if start <= t <= end]
        before = [r for t, r, _ in self.samples if t <= start]
        if not inside:
            return 0, 0
        base = before[-1] if before else inside[0]
        return max(inside), max(inside) - base

    def cpu_between(self, start: float, end: float) -> float:
        """CPU seconds the tree used between two times (nearest samples; steps run one after another)."""
        at = lambda when: min(self.samples, key=lambda s: abs(s[0] - when))[2] if self.samples else 0.0
        return at(end) - at(start)


def _steps(home: Path) -> list[tuple[str, float, float, int | None]]:
    """(step, start, end, pid of the step's own process or None) of every successful step of every run in the
    instance, from its event log."""
    os.environ["DAGSTER_HOME"] = str(home)
    from dagster import DagsterEventType, DagsterInstance

    instance = DagsterInstance.get()
    out = []
    for record in instance.get_run_records():
        starts: dict[str, float] = {}
        pids: dict[str, int] = {}
        for rec in instance.all_logs(record.dagster_run.run_id):
            ev = rec.dagster_event
            if ev is None or not ev.step_key:
                continue
            if ev.event_type == DagsterEventType.STEP_WORKER_STARTED:
                pids[ev.step_key] = int(ev.event_specific_data.metadata["pid"].value)
            elif ev.event_type == DagsterEventType.STEP_START:
                starts[ev.step_key] = rec.timestamp
            elif ev.event_type == DagsterEventType.STEP_SUCCESS and ev.step_key in starts:
                out.append((ev.step_key, starts[ev.step_key], rec.timestamp, pids.get(ev.step_key)))
    return sorted(out, key=lambda s: s[1])


def _processed(home: Path) -> dict[str, str]:
    """Per step, what it read or made as its materialisations' metadata counts it (whole numbers and durations,
    e.g. `frames=226`, `duration_s=605.5`), from the instance's event log; where a step ran in both jobs, the
    later run's."""
    os.environ["DAGSTER_HOME"] = str(home)
    from dagster import DagsterEventType, DagsterInstance

    out: dict[str, dict[str, str]] = {}
    with DagsterInstance.get() as instance:
        for record in sorted(instance.get_run_records(), key=lambda r: r.create_timestamp):
            for rec in instance.all_logs(record.dagster_run.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION):
                ev = rec.dagster_event
                mat = ev.event_specific_data.materialization
                counts = [f"{k}={v.value}" for k, v in mat.metadata.items()
                          if (isinstance(v.value, int) and not isinstance(v.value, bool))
                          or (isinstance(v.value, float) and k.endswith(("duration_s", "speech_seconds")))]
                out.setdefault(ev.step_key, {})[mat.asset_key.to_user_string()] = ", ".join(counts[:4])
    return {step: "; ".join(f"{asset}: {c}" if len(assets) > 1 else c for asset, c in assets.items())
            for step, assets in out.items()}


def _become_subreaper() -> None:
    """Processes of the run orphaned before they end (the forkserver of the step processes outlives
    `animproc run` for a moment) are re-parented to this process, so their CPU time is counted when reaped."""
    PR_SET_CHILD_SUBREAPER = 36
    ctypes.CDLL(None).prctl(PR_SET_CHILD_SUBREAPER, 1)


def _reap_all() -> None:
    """Wait for every child left (orphans adopted as subreaper), so getrusage(RUSAGE_CHILDREN) includes them."""
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _set_pool_limit(home: Path, pool: str, slots: int) -> None:
    """What `dagster instance concurrency set POOL SLOTS` does, in the bench's fresh instance."""
    from dagster import DagsterInstance

    with DagsterInstance.from_config(str(home)) as instance:
        instance.event_log_storage.set_concurrency_slots(pool, slots)


def run_film(path: Path, gpu_slots: int | None = None) -> dict:
    """`animproc film add` + `animproc run` in a fresh data root and instance, with `review: auto`; with
    `gpu_slots`, the instance's `gpu` pool has that many slots instead of dagster.yaml's one."""
    work = Path(tempfile.mkdtemp(prefix="animproc-film-bench-"))
    home, data, configs = work / "home", work / "data", work / "configs"
    for d in (home, data, configs):
        d.mkdir()
    (home / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
    (configs / "bench.yaml").write_text("review: auto\n")
    env = {**os.environ, "DAGSTER_HOME": str(home), "ANIMPROC_DATA": str(data), "ANIMPROC_CONFIG_DIR": str(configs),
           "PYTHONPATH": str(ROOT)}
    cli = [sys.executable, "-m", "animproc_dagster.cli"]
    subprocess.run([*cli, "film", "add", "bench", str(path)], env=env, check=True, cwd=ROOT)
    if gpu_slots is not None:
        _set_pool_limit(home, "gpu", gpu_slots)
    _become_subreaper()
    _reap_all()
    log = work / "run.log"
    started, cpu_before = time.time(), _children_cpu()
    with open(log, "w") as out:
        proc = subprocess.Popen([*cli, "run", "bench"], env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        with RssSampler(proc.pid) as rss:
            rc = proc.wait()
            _reap_all()
    wall = time.time() - started
    cpu = _children_cpu() - cpu_before
    if rc != 0:
        sys.exit(f"animproc run failed ({rc}); its log: {log}\n" + log.read_text()[-3000:])
    steps = _steps(home)
    rows = {}
    for step, start, end, pid in steps:
        peak, rise = rss.peak(start, end)
        row = rows.setdefault(step, {"seconds": 0.0, "peak_rss": 0, "rss_rise": 0, "cpu": 0.0})
        row["seconds"] += end - start
        row["cpu"] += rss.cpu.get(pid, 0.0) if pid is not None else rss.cpu_between(start, end)
        row["peak_rss"], row["rss_rise"] = max(row["peak_rss"], peak), max(row["rss_rise"], rise)
    inside = sum(r["seconds"] for r in rows.values())
    busy = _union_seconds([(start, end) for _, start, end, _ in steps])
    return {"film_seconds": _duration(path), "wall": wall, "outside_steps": wall - busy, "assets": rows,
            "processed": _processed(home),
            "steps_in_parallel": inside - busy, "cpu": cpu,
            "peak_rss": max((r for _, r, _ in rss.samples), default=0), "work": str(work)}


def _union_seconds(spans: list[tuple[float, float]]) -> float:
    """Seconds covered by at least one of the spans (steps that overlap count once)."""
    total, reach = 0.0, float("-inf")
    for start, end in sorted(spans):
        if end > reach:
            total += end - max(start, reach)
            reach = end
    return total


def fixed_and_rate(cpu_1x: float, seconds_1x: float, cpu_2x: float, seconds_2x: float) -> tuple[float, float]:
    """CPU seconds as `fixed + rate x film seconds`, the line through the two runs: `fixed` is what a step costs
    whatever the film's length (imports, model loading, start-up), `rate` the per-film work, CPU s per film s."""
    rate = (cpu_2x - cpu_1x) / (seconds_2x - seconds_1x)
    return cpu_1x - rate * seconds_1x, rate


def _table(one: dict, two: dict | None, decode: float) -> str:
    film = one["film_seconds"]
    lines = [f"film: {film:.0f} s; decode-only (PyAV, all frames): {decode:.1f} s = {decode / film:.3f}x real time",
             "", "| asset | seconds | real-time factor | CPU seconds | peak PSS (MB) | PSS added (MB) |"
             + (" 2x seconds | 2x / 1x | 2x CPU seconds | 2x / 1x CPU | fixed CPU s | CPU s per film s |"
                " 2x peak PSS (MB) |" if two else "") + " processed (its metadata) |",
             "| --- | ---: | ---: | ---: | ---: | ---: |" + (" ---: | ---: | ---: | ---: | ---: | ---: | ---: |" if two else "")
             + " --- |"]
    processed = one.get("processed", {})
    for step, r in one["assets"].items():
        line = (f"| {step} | {r['seconds']:.1f} | {r['seconds'] / film:.3f} | {r['cpu']:.1f} | {r['peak_rss'] / 2**20:.0f} | "
                f"{r['rss_rise'] / 2**20:.0f} |")
        if two:
            t = two["assets"].get(step, {"seconds": float("nan"), "cpu": float("nan"), "peak_rss": 0})
            fixed, rate = fixed_and_rate(r["cpu"], film, t["cpu"], two["film_seconds"])
            line += (f" {t['seconds']:.1f} | {t['seconds'] / max(r['seconds'], 1e-9):.2f} | {t['cpu']:.1f} | "
                     f"{t['cpu'] / max(r['cpu'], 1e-9):.2f} | {fixed:.1f} | {rate:.3f} | {t['peak_rss'] / 2**20:.0f} |")
        lines.append(line + f" {processed.get(step, '')} |")
    inside = sum(r["seconds"] for r in one["assets"].values())
    lines += ["", f"steps: {inside:.0f} s = {inside / film:.2f}x real time, of which {one['steps_in_parallel']:.0f} s "
              f"beside other steps; outside any step (imports, planning, start-up): {one['outside_steps']:.0f} s; "
              f"whole `animproc run`: {one['wall']:.0f} s = "
              f"{one['wall'] / film:.2f}x real time; peak PSS {one['peak_rss'] / 2**20:.0f} MB",
              f"projection to a 90-minute film at this rate: {one['wall'] / film * 90:.0f} minutes",
              f"CPU seconds of the whole process tree: {one['cpu']:.0f} = {one['cpu'] / film:.2f} CPU-seconds per film "
              f"second; on {os.cpu_count()} cores kept busy that is at least {one['cpu'] / film / os.cpu_count():.2f}x "
              f"real time, {one['cpu'] / film / os.cpu_count() * 90:.0f} minutes for 90 minutes"]
    if two:
        fixed, rate = fixed_and_rate(one["cpu"], film, two["cpu"], two["film_seconds"])
        wall_fixed, wall_rate = fixed_and_rate(one["wall"], film, two["wall"], two["film_seconds"])
        lines += [f"2x film: whole run {two['wall']:.0f} s ({two['wall'] / one['wall']:.2f} x the 1x run), "
                  f"{two['cpu']:.0f} CPU s ({two['cpu'] / one['cpu']:.2f} x), peak PSS {two['peak_rss'] / 2**20:.0f} MB",
                  f"line through both runs: {fixed:.0f} CPU s fixed (imports, model loading, start-up: whatever the "
                  f"length) + {rate:.2f} CPU s per film second; wall {wall_fixed:.0f} s + {wall_rate:.2f} x the film; "
                  f"a 90-minute film: {(fixed + rate * 5400) / 60:.0f} CPU-minutes, {(wall_fixed + wall_rate * 5400) / 60:.0f} "
                  f"minutes of wall at this run's rate"]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--height", type=int, default=1080)
    ap.add_argument("--only-1x", action="store_true", help="skip the run on the film at twice the length")
    ap.add_argument("--json", type=Path, help="also write the measurements here")
    ap.add_argument("--gpu-slots", type=int, help="slots of the instance's `gpu` pool (dagster.yaml: 1); on a "
                                                  "machine without a GPU the GPU steps run their CPU defaults")
    ap.add_argument("--table-from", type=Path, help="print the table of measurements an earlier --json wrote")
    args = ap.parse_args()
    if args.table_from:
        saved = json.loads(args.table_from.read_text())
        for run in (saved["1x"], saved["2x"]):
            if run and "processed" not in run and (Path(run["work"]) / "home").exists():
                run["processed"] = _processed(Path(run["work"]) / "home")
        print(_table(saved["1x"], saved["2x"], saved["decode_seconds"]))
        return
    film = build_film(args.minutes, args.height)
    decode = decode_seconds(film)
    one = run_film(film, args.gpu_slots)
    two = None if args.only_1x else run_film(media.doubled(film), args.gpu_slots)
    workers = os.environ.get("ANIMPROC_WORKERS") or "1 (the default)"
    print(f"machine: {os.cpu_count()} CPUs; film {film.name}; workers {workers}; gpu pool slots "
          f"{args.gpu_slots or 'as dagster.yaml sets them'}")
    print(_table(one, two, decode))
    if args.json:
        args.json.write_text(json.dumps({"decode_seconds": decode, "1x": one, "2x": two}, indent=1))


if __name__ == "__main__":
    main()
