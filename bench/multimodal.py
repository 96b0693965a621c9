"""Multimodal products benchmark: film_timeline and the four dataset builds, each in its own process, as a ratio
to the PyAV decode-only time of the benchmark film (the floor), with peak RSS, at 1x and 2x the film's length.

    .venv/bin/python bench/multimodal.py [--seconds 300] [--film PATH] [--stages film_timeline,dataset_...]

The film is the frames benchmark's (Sintel trailer at 1080p looped to >= --seconds, bench/.cache) unless --film
names another. The upstream products the stages read are written once per length, outside the timed stages, at
the film's scale: the film's own audio (16 kHz), a shot every 4 s in scenes of 5, three sampled 1280x720 frames
a shot, three characters with a face every 0.5 s, a track and an action per shot, speech 60 % of the time mapped
to characters, an effect every third shot, a beat every 0.5 s. The 2x film is the 1x one played twice (its
products too). `--stages` takes any of STAGES (engineer A's analysis assets join once they are merged and
listed there)."""
from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import media  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("floor", "film_timeline", "dataset_character_multimodal", "dataset_scene_understanding",
          "dataset_action_recognition", "dataset_emotion_analysis")
FILM = "bench"
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


def write_products(path: str, loops: int = 1) -> Path:
    """The upstream products of a film as long as `path` (times `loops`), through the catalogue."""
    import cv2
    import numpy as np
    import pandas as pd

    from animproc.catalogue import FilmProducts, product
    from animproc.review.labels import Review
    from animproc.storage import Storage
    from animproc.video.probe import probe_media

    root = _root(path)
    if (root / FILM / "film_timeline" / "shots.parquet").exists():
        return root
    probe = probe_media(path)
    source = Path(path.replace("_x2", "")) if loops == 2 else Path(path)
    duration = float(probe.duration_s)
    st = Storage(root)
    p = FilmProducts(st, FILM)

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
        out.json("probe", {"duration": duration, "fps": probe.fps, "width": 1280, "height": 720})
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
    with p.publish("effects_catalog") as out:
        out.table("effects", frame("effects_catalog", [{"film": FILM, "type": "glow", "shot_id": k, "start_time": a,
                                                        "end_time": a + 1} for k, a, _ in shots if k % 3 == 0],
                                   "effects"))
    with p.publish("audio") as out:
        out.json("info", {"has_audio": True})
        _film_audio(source, out.path("analysis_16k.wav"), loops, duration)
    with p.publish("vocals") as out:
        out.json("info", {"has_audio": True})
    turns = [(k, a + 0.5, a + 0.5 + 0.6 * (b - a), f"S{k % 3}", who[k]) for k, a, b in shots]
    with p.publish("diarization") as out:
        out.table("segments", frame("diarization", [{"film": FILM, "start": a, "end": b, "speaker": s}
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


def stage(name: str, path: str) -> dict:
    """One stage in this process: JSON with seconds and peak RSS. Imports come before the clock."""
    import av

    from animproc.catalogue import FilmProducts
    from animproc.config import DatasetsConfig
    from animproc.datasets.build import build_dataset
    from animproc.storage import Storage

    if name.startswith("dataset_"):
        import datasets  # noqa: F401 (its import, seconds, comes before the clock like every other)
    products = FilmProducts(Storage(_root(path)), FILM)
    extra = {}
    started = time.perf_counter()
    if name == "floor":
        with av.open(path) as c:
            extra["frames"] = sum(1 for _ in c.decode(video=0))
    elif name == "film_timeline":
        extra["shots"], extra["slices"] = _timeline(products)
    else:
        task = name.removeprefix("dataset_")
        with products.publish(name) as out:
            built = build_dataset(products, out, task, DatasetsConfig(), {"face_analyzer": "embedded"})
        extra["rows"] = built.rows
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"stage": name, "seconds": round(seconds, 2), "peak_rss_mb": round(peak / 1024, 1), **extra}


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--film", help="benchmark film (default: the frames benchmark's 1080p file)")
    parser.add_argument("--stages", default=",".join(STAGES[1:]), help="comma-separated, from: " + ", ".join(STAGES))
    args = media.parse_or_run_stage(stage, parser)
    if args is None:
        return
    src = Path(args.film) if args.film else media.long_1080p(args.seconds)
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
    write_products(str(src))
    write_products(str(x2), loops=2)
    rows = []
    for n in names:
        one, two = media.run_stage(__file__, n, src), media.run_stage(__file__, n, x2)
        rows.append((n, one, two))
    floor, floor2 = rows[0][1]["seconds"], rows[0][2]["seconds"]
    print(f"\n{'stage':<30}{'seconds':>9}{'x floor':>9}{'2x: s':>9}{'x floor':>9}{'RSS 1x MB':>11}{'RSS 2x MB':>11}")
    for n, one, two in rows:
        print(f"{n:<30}{one['seconds']:>9.2f}{one['seconds'] / floor:>9.2f}{two['seconds']:>9.2f}"
              f"{two['seconds'] / floor2:>9.2f}{one['peak_rss_mb']:>11.1f}{two['peak_rss_mb']:>11.1f}")
    built = sum(one["seconds"] for n, one, _ in rows[1:])
    print(f"\nall listed stages / floor: {built / floor:.2f}x; peak RSS 2x / 1x per stage: "
          + ", ".join(f"{n} {two['peak_rss_mb'] / one['peak_rss_mb']:.2f}" for n, one, two in rows[1:]))


if __name__ == "__main__":
    main()
