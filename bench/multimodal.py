"""Multimodal benchmark: active_speakers, character_voices, av_sync, film_timeline and the four dataset builds,
each in its own process, as a ratio to the PyAV decode-only time of the same film (the floor), wall and CPU
seconds, with peak RSS, at 1x and 2x the film's length.

    .venv/bin/python bench/multimodal.py [--seconds 300] [--height 1080] [--film PATH] [--stages a,b,...]
                                         [--only-1x] [--side-by-side] [--json OUT]
                                         [--shard-megabytes N] [--row-group-megabytes N]

The film is the whole-film benchmark's (bench/film.py: the real clips of ../shared/media cut into one film with
dialogue, music and effects, looped to --seconds at --height, cached in bench/.cache) unless --film names
another; the 2x film is it played twice (media.doubled). The upstream products the stages read are written once
per film into a cache root (bench/.cache/multimodal/), outside the timed stages, at the film's scale: the film
itself as its registered source and its own audio (16 kHz) as the mixture and as both stems, a shot every 4 s
in scenes of 5, three sampled 1280x720 frames a shot, three characters with a face every 0.5 s, a track and an
action per shot, speech 60 % of the time in three voices, an effect every third shot, and an active_speakers
product in which each turn's shot track speaks. Stages run in the order given, each reading what the ones
before it wrote: active_speakers (every 0.1 s the embedded face detector and MediaPipe mesh on the real
frames; it rewrites that product), character_voices (resemblyzer embeddings of every turn), av_sync (librosa
beats and onsets on the stem), film_timeline, the datasets. The three asset stages call the assets themselves
(Dagster's direct invocation), so they measure what a run's step does, without the run's start-up. The dataset
builds use the film config's defaults unless --shard-megabytes / --row-group-megabytes set smaller budgets (to
show where the memory levels off on a film too short to fill the default ones); each reports its rows, shards
and row groups."""
from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import film  # noqa: E402
import media  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ASSET_STAGES = ("active_speakers", "character_voices", "av_sync")
STAGES = ("floor", *ASSET_STAGES, "film_timeline", "dataset_character_multimodal", "dataset_scene_understanding",
          "dataset_action_recognition", "dataset_emotion_analysis")
FILM = "bench"
DATASETS_CONFIG = "ANIMPROC_BENCH_DATASETS"  # JSON of DatasetsConfig overrides, from main to the stage processes
CHARACTERS = ("ava", "bo", "cy")


def _root(path: str) -> Path:
    return media.CACHE / "multimodal" / Path(path).stem


def _film_audio(path: Path, out: Path, loops: int, duration: float) -> None:
    """The film's first audio track as 16 kHz mono WAV, written block by block (silence if it has none)."""
    import av
    import numpy as np
    import soundfile as sf

    with sf.SoundFile(str(out), "w", 16000, 1, subtype="PCM_16") as wav:
        written = 0
        for _ in range(loops):
            with av.open(str(path)) as c:
                if not c.streams.audio:
                    break
                resampler = av.AudioResampler(format="flt", layout="mono", rate=16000)
                for frame in c.decode(audio=0):
                    for r in resampler.resample(frame):
                        block = r.to_ndarray().reshape(-1)
                        wav.write(block)
                        written += len(block)
        if written < duration * 16000:
            wav.write(np.zeros(int(duration * 16000) - written, np.float32))


def _as_flac(wav: Path, out: Path) -> None:
    import soundfile as sf

    with sf.SoundFile(str(wav)) as src, sf.SoundFile(str(out), "w", src.samplerate, src.channels, format="FLAC") as dst:
        for block in src.blocks(blocksize=16000 * 30):
            dst.write(block)


def _effects(products, shots, fps: float, frame) -> None:
    """An effect every third shot: a one-second glow peaking half a second in."""
    with products.publish("effects_catalog") as out:
        out.table("effects", frame("effects_catalog", [
            {"film": FILM, "type": "glow", "category": "light", "shot_id": k, "start_frame": int(a * fps),
             "end_frame": int((a + 1) * fps), "start_time": a, "end_time": a + 1, "intensity": 0.5, "peak": 0.8,
             "peak_frame": int((a + 0.5) * fps), "samples": int(fps)} for k, a, _ in shots if k % 3 == 0],
            "effects"))


def write_products(path: str, loops: int = 1) -> Path:
    """The upstream products of a film as long as `path` (times `loops`), through the catalogue."""
    import cv2
    import numpy as np
    import pandas as pd

    from animproc.catalogue import FilmProducts, product
    from animproc.library import store_source
    from animproc.review.labels import Review
    from animproc.storage import Storage
    from animproc.video.probe import probe_media

    root = _root(path)
    if (root / FILM / "reviews" / "identities.json").exists():
        return root
    probe = probe_media(path)
    source = Path(path.replace("_x2", "")) if loops == 2 else Path(path)
    duration = float(probe.duration_s)
    st = Storage(root)
    p = FilmProducts(st, FILM)
    store_source(st, FILM, path)

    def frame(name, rows, table=None):
        spec = product(name).tables[table] if table else next(iter(product(name).tables.values()))
        df = pd.DataFrame(rows)
        for c in spec.names:
            if c not in df.columns:
                df[c] = None
        return df[spec.names]

    rng = np.random.default_rng(0)
    picture = cv2.imencode(".jpg", cv2.resize(rng.integers(0, 255, (90, 160, 3), dtype=np.uint8), (1280, 720)))[1]
    face = cv2.imencode(".jpg", rng.integers(0, 255, (112, 112, 3), dtype=np.uint8))[1].tobytes()
    cutout = cv2.imencode(".png", np.dstack([rng.integers(0, 255, (300, 200, 3), dtype=np.uint8),
                                             np.full((300, 200), 255, np.uint8)]))[1].tobytes()
    shots = [(k, a, min(a + 4.0, duration)) for k, a in enumerate(np.arange(0, duration, 4.0))]
    who = {k: CHARACTERS[k % 3] for k, _, _ in shots}
    with p.publish("source_video") as out:
        out.json("probe", probe.to_dict())
    with p.publish("shots") as out:
        out.table("shots", frame("shots", [{"film": FILM, "shot_id": k, "start_frame": int(a * probe.fps),
                                            "end_frame": int(b * probe.fps) - 1, "start_time": a, "end_time": b}
                                           for k, a, b in shots], "shots"))
        out.table("transitions", frame("shots", [], "transitions"))
    with p.publish("shot_structure") as out:
        out.table("shot_structure", frame("shot_structure", [
            {"film": FILM, "shot_id": k, "start_time": a, "end_time": b, "duration": b - a, "scale": "medium",
             "camera": "static", "scene_id": k // 5, "act_id": k // 50} for k, a, b in shots]))
        out.json("scenes", {})
    with p.publish("frames_processed") as out:
        rows = []
        for k, a, b in shots:
            for j in range(3):
                t = a + (j + 0.5) * (b - a) / 3
                index = int(t * probe.fps)
                rows.append({"film": FILM, "frame_index": index, "time": t, "shot_id": k, "kept": True,
                             "sharpness": float(j), "path": out.blob(f"images/{index:07d}.jpg", picture.tobytes())})
        out.table("manifest", frame("frames_processed", rows))
    tracks = [{"film": FILM, "track_id": f"t{k}", "shot_id": k, "label": who[k], "start_time": a, "end_time": b,
               "speed": 0.2, "path": json.dumps([[int(a * probe.fps), 0.5, 0.5, 0.3, 0.6]])} for k, a, b in shots]
    with p.publish("motion") as out:
        out.table("shot_motion", frame("motion", [{"film": FILM, "shot_id": k, "motion_energy": 0.1}
                                                  for k, _, _ in shots], "shot_motion"))
        out.table("tracks", frame("motion", tracks, "tracks"))
        out.table("actions", frame("motion", [{**t, "action": "walking", "confidence": 0.5} for t in tracks],
                                   "actions"))
        out.table("poses", frame("motion", [], "poses"))
    _effects(p, shots, probe.fps, frame)
    with p.publish("audio") as out:
        out.json("info", {"has_audio": True})
        _film_audio(source, out.path("analysis_16k.wav"), loops, duration)
    with p.publish("vocals") as out:
        out.json("info", {"has_audio": True})
        for stem in ("vocals", "accompaniment"):  # the mixture stands for both stems: same length, same reads
            _as_flac(Path(p.file("audio", "analysis")), Path(out.path(f"{stem}.flac")))
    turns = [(k, a + 0.5, a + 0.5 + 0.6 * (b - a), f"S{k % 3}", who[k]) for k, a, b in shots]
    with p.publish("diarization") as out:
        out.table("segments", frame("diarization", [{"film": FILM, "start": a, "end": b, "speaker": s,
                                                     "confidence": 1.0, "overlap": False}
                                                    for _, a, b, s, _ in turns]))
    with p.publish("voice_features") as out:
        out.table("voice_features", pd.DataFrame([{"film": FILM, "speaker": f"S{k}", "f0_median_hz": 150.0 + 50 * k,
                                                   "tone": "neutral"} for k in range(3)]))
    faces = [(f"{k:07d}", t, int(t // 4), who[int(t // 4)]) for k, t in enumerate(np.arange(0.25, duration, 0.5))]
    with p.publish("identity_clusters") as out:
        out.table("faces", frame("identity_clusters", [
            {"face_id": f, "time": t, "shot_id": s, "instance_id": f"i{f}", "x0": 500.0, "y0": 100.0, "x1": 620.0,
             "y1": 220.0, "cluster": CHARACTERS.index(c)} for f, t, s, c in faces], "faces"))
    with p.publish("characters") as out:
        index = []
        for f, _, _, c in faces:
            index.append({"character": c, "kind": "face", "id": f, "path": out.blob(f"{c}/faces/{f}.jpg", face)})
            index.append({"character": c, "kind": "instance", "id": f"i{f}",
                          "path": out.blob(f"{c}/instances/i{f}.png", cutout)})
        out.table("index", frame("characters", index))
    with p.publish("active_speakers") as out:  # the shot's track speaks each turn (the real stage rewrites it)
        steps = np.round(np.arange(0, duration, 0.1), 1)
        out.table("scores", frame("active_speakers", [
            {"track_id": int(t // 4), "t": float(t), "score": 0.6, "shot_id": int(t // 4), "character": who[int(t // 4)],
             "motion_track": f"t{int(t // 4)}", "x0": 250.0, "y0": 60.0, "x1": 330.0, "y1": 150.0,
             "mouth": float(rng.random()), "loudness": float(rng.random())} for t in steps if int(t // 4) in who],
            "scores"))
        out.table("turns", frame("active_speakers", [
            {"turn_id": k, "start": a, "end": b, "speaker": s, "best_track": k, "character": c, "score": 0.6,
             "margin": 0.4, "off_screen": False} for k, a, b, s, c in turns], "turns"))
        out.json("info", {"backend": "bench", "step_seconds": 0.1, "has_audio": True, "note": "written by the bench"})
    with p.publish("character_voices") as out:
        out.table("mapping", frame("character_voices", [{"speaker": f"S{k}", "character": CHARACTERS[k],
                                                         "confidence": 0.9} for k in range(3)], "mapping"))
        out.table("turns", frame("character_voices", [{"turn_id": k, "start": a, "end": b, "speaker": s,
                                                       "character": c} for k, a, b, s, c in turns], "turns"))
        with st.local_copy(p.file("audio", "analysis")) as wav:
            from animproc.datasets.shards import AudioClips

            clips = AudioClips(wav, 8.0)
            rows = []
            for k, a, b, _, c in turns[::4]:
                out.blob(f"clips/{k}.wav", clips.clip(a, b)["bytes"])
                rows.append({"character": c, "turn_id": k, "start": a, "end": b, "path": f"clips/{k}.wav"})
        out.table("clips", frame("character_voices", rows, "clips"))
    with p.publish("av_sync") as out:
        out.table("beats", pd.DataFrame({"t": np.arange(0, duration, 0.5)}))
    review = Review(FILM, "identities", version=1, submitted=True,
                    decisions={"clusters": {str(k): {"name": c} for k, c in enumerate(CHARACTERS)}, "faces": {}})
    st.write_text(st.film_dir(FILM) / "reviews" / "identities.json", json.dumps(review.to_json()))
    _timeline(p)
    return root


def _timeline(products):
    from animproc.timeline import build_timeline, timeline_inputs

    shots, slices = build_timeline(timeline_inputs(products, 0.1), 0.1)
    with products.publish("film_timeline") as out:
        out.table("shots", shots)
        out.table("slices", slices)
        out.json("summary", {"slice_seconds": 0.1})
    return len(shots), len(slices)


def _asset_stage(name: str, root: Path) -> dict:
    """Run one multimodal asset on the cached products, as a run's step does (direct invocation: no instance
    storage, no run overhead); its metadata's counts come back."""
    from dagster import DagsterInstance, build_asset_context

    import assets.multimodal as assets
    from resources.active_speaker import ActiveSpeakerResource
    from resources.face_analyzer import FaceAnalyzerResource
    from resources.film_config import FilmConfigResource
    from resources.storage import StorageResource

    resources = {"storage": StorageResource(root=str(root))}
    if name == "active_speakers":
        resources |= {"active_speaker": ActiveSpeakerResource(), "face_analyzer": FaceAnalyzerResource(),
                      "film_config": FilmConfigResource(config_dir=str(root / "configs"))}
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("film", [FILM])
    with build_asset_context(partition_key=FILM, instance=instance) as context:
        result = getattr(assets, name)(context, **resources)
    keep = ("tracks", "turns", "off_screen_turns", "speakers", "mapped", "clips", "cuts", "beats", "events")
    return {k: v for k, v in (result.metadata or {}).items() if k in keep and isinstance(v, int | float)}


def stage(name: str, path: str) -> dict:
    """One stage in this process: JSON with seconds and peak RSS (and the peak before the clock: the imports and
    the products' opening). Imports come before the clock."""
    import av

    from animproc.catalogue import FilmProducts
    from animproc.config import DatasetsConfig
    from animproc.datasets.build import build_dataset
    from animproc.storage import Storage

    if name.startswith("dataset_"):
        import datasets  # noqa: F401 (its import, seconds, comes before the clock like every other)
    if name in ASSET_STAGES:  # the assets' own imports (models load inside the step, on the clock)
        import assets.multimodal  # noqa: F401
        import resources.active_speaker  # noqa: F401
        import resources.face_analyzer  # noqa: F401
    products = FilmProducts(Storage(_root(path)), FILM)
    extra = {}
    before = resource.getrusage(resource.RUSAGE_SELF)
    cpu_before = before.ru_utime + before.ru_stime
    started = time.perf_counter()
    if name == "floor":
        with av.open(path) as c:
            extra["frames"] = sum(1 for _ in c.decode(video=0))
    elif name in ASSET_STAGES:
        extra = _asset_stage(name, _root(path))
    elif name == "film_timeline":
        extra["shots"], extra["slices"] = _timeline(products)
    else:
        task = name.removeprefix("dataset_")
        config = DatasetsConfig(**json.loads(os.environ.get(DATASETS_CONFIG, "{}")))
        with products.publish(name) as out:
            built = build_dataset(products, out, task, config, {"face_analyzer": "embedded"})
        extra["rows"] = built.rows
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime - cpu_before
    if name.startswith("dataset_"):
        extra |= _shard_counts(products, name)
    return {"stage": name, "seconds": round(seconds, 2), "cpu_seconds": round(cpu, 2),
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1), "peak_rss_before_mb": round(before.ru_maxrss / 1024, 1),
            **extra}


def _shard_counts(products, name: str) -> dict:
    """The built dataset's shard files and their row groups (read after the clock)."""
    import pyarrow.parquet as pq

    files = [f for part in products.json(name, "splits")["splits"].values() for f in part["files"]]
    groups = 0
    for file in files:
        with products.storage.local_copy(products.resolve(f"{products.film}/{name}/{file}")) as local:
            groups += pq.ParquetFile(local).metadata.num_row_groups
    return {"shards": len(files), "row_groups": groups}


def _table(rows: list[tuple[str, dict, dict]]) -> str:
    """Markdown: per stage, wall and CPU seconds and their ratio to the floor's, at 1x and 2x, and peak RSS."""
    floor, floor2 = rows[0][1], rows[0][2]
    blank = {"seconds": float("nan"), "cpu_seconds": float("nan"), "peak_rss_mb": float("nan")}
    rows = [(n, one, two or blank) for n, one, two in rows]
    floor2 = floor2 or {"seconds": 1.0, "cpu_seconds": 1.0}
    lines = ["| stage | seconds | × floor | CPU s | CPU × floor | 2×: seconds | × 2× floor | 2×: CPU s | CPU × 2× floor "
             "| peak RSS 1× | peak RSS 2× |", "| --- |" + " ---: |" * 10]
    for n, one, two in rows:
        lines.append(
            f"| {'decode only (floor)' if n == 'floor' else n} | {one['seconds']:.1f} | "
            f"{one['seconds'] / floor['seconds']:.1f} | {one['cpu_seconds']:.1f} | "
            f"{one['cpu_seconds'] / floor['cpu_seconds']:.1f} | {two['seconds']:.1f} | "
            f"{two['seconds'] / floor2['seconds']:.1f} | {two['cpu_seconds']:.1f} | "
            f"{two['cpu_seconds'] / floor2['cpu_seconds']:.1f} | {one['peak_rss_mb']:.0f} MB | {two['peak_rss_mb']:.0f} MB |")
    return "\n".join(lines)


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--film", help="benchmark film (default: bench/film.py's, --seconds long at --height)")
    parser.add_argument("--height", type=int, default=1080, help="of the default film (16:9)")
    parser.add_argument("--stages", default=",".join(STAGES[1:]), help="comma-separated, from: " + ", ".join(STAGES))
    parser.add_argument("--json", type=Path, help="also write the measurements here")
    parser.add_argument("--only-1x", action="store_true", help="skip the film at twice the length")
    parser.add_argument("--side-by-side", action="store_true",
                        help="run each stage's 1x and 2x processes at the same time (on a loaded machine: half the "
                             "wall time; compare CPU seconds then)")
    parser.add_argument("--shard-megabytes", type=int, help="dataset builds: datasets.shard_megabytes (default 128)")
    parser.add_argument("--row-group-megabytes", type=int,
                        help="dataset builds: datasets.row_group_megabytes (default 8)")
    args = media.parse_or_run_stage(stage, parser)
    if args is None:
        return
    overrides = {k: v for k, v in (("shard_megabytes", args.shard_megabytes),
                                   ("row_group_megabytes", args.row_group_megabytes)) if v is not None}
    os.environ[DATASETS_CONFIG] = json.dumps(overrides)
    src = Path(args.film) if args.film else film.build_film(args.seconds / 60, args.height)
    if not src.is_relative_to(media.CACHE):  # doubled() writes beside its input: keep that in the cache
        media.CACHE.mkdir(parents=True, exist_ok=True)
        link = media.CACHE / src.name
        if not link.exists():
            link.symlink_to(src.resolve())
        src = link
    x2 = media.doubled(src)
    names = ["floor", *[s for s in args.stages.split(",") if s and s != "floor"]]
    unknown = [n for n in names if n not in STAGES]
    if unknown:
        sys.exit(f"unknown stages {unknown}: choose from {', '.join(STAGES)}")
    print(f"input: {src} (and {x2.name}, twice as long); writing upstream products (untimed)")
    films = [src] if args.only_1x else [src, x2]
    for loops, path in enumerate(films, 1):
        write_products(str(path), loops=loops)
    rows = []
    for n in names:
        if args.side_by_side:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(2) as pool:
                measured = list(pool.map(lambda f: media.run_stage(__file__, n, f), films))
        else:
            measured = [media.run_stage(__file__, n, f) for f in films]
        rows.append((n, measured[0], measured[-1] if len(measured) == 2 else None))
        print(json.dumps({"stage": n, "1x": rows[-1][1], "2x": rows[-1][2]}), flush=True)
    print(_table(rows))
    built = sum(one["cpu_seconds"] for n, one, _ in rows[1:])
    print(f"\nall listed stages / floor, CPU seconds: {built / rows[0][1]['cpu_seconds']:.2f}x")
    if not args.only_1x:
        print("peak RSS 2x / 1x per stage: " + ", ".join(f"{n} {two['peak_rss_mb'] / one['peak_rss_mb']:.2f}"
                                                          for n, one, two in rows[1:]))
    if args.json:
        args.json.write_text(json.dumps({"film": str(src), "rows": [[n, one, two] for n, one, two in rows]}, indent=1))


if __name__ == "__main__":
    main()
