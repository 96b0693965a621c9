"""A small film's products as the assets write them (through the catalogue), for the timeline and dataset
tests: 6 s, three shots in two scenes, characters ava and bo with faces, tracks, speech, an effect, actions,
beats and audio. Parts can be left out to make the bad-input films (no audio, no faces, no reviews)."""
from __future__ import annotations

import io
import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import soundfile as sf

from animproc.catalogue import FilmProducts, product
from animproc.review.labels import Review
from animproc.storage import Storage

DURATION, WIDTH, HEIGHT, SR = 6.0, 160, 90, 16000
SHOTS = [(0, 0.0, 2.0, 0, "close_up", "static"), (1, 2.0, 4.0, 0, "medium", "pan"), (2, 4.0, 6.0, 1, "long", "static")]
FACES = [("ava", 0.5, 0), ("ava", 1.0, 0), ("ava", 1.5, 0), ("bo", 2.5, 1), ("bo", 3.0, 1), ("ava", 4.5, 2)]
TURNS = [(0, 0.2, 1.8, "S0", "ava"), (1, 2.2, 3.6, "S1", "bo"), (2, 4.2, 5.0, "S2", None)]
BEATS = [0.0, 1.0, 2.05, 3.0, 4.0, 5.0]
SPIKE_FRAME = 76  # motion's per-frame flow: steady in every shot but for this frame of shot 1 (pair 72-76)


def frame(name: str, rows: list[dict], table: str | None = None) -> pd.DataFrame:
    """Rows with every column of the catalogue's table (absent ones null)."""
    spec = product(name).tables[table] if table else next(iter(product(name).tables.values()))
    df = pd.DataFrame(rows)
    for c in spec.names:
        if c not in df.columns:
            df[c] = None
    return df[spec.names + [c for c in df.columns if c not in spec.names]]


def _jpg(value: int, size=(32, 32)) -> bytes:
    img = np.full((*size, 3), value % 255, np.uint8)
    cv2.putText(img, str(value), (2, size[0] - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1)
    return cv2.imencode(".jpg", img)[1].tobytes()


def _wav(samples: np.ndarray, rate: int = SR, fmt: str = "WAV") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, samples, rate, format=fmt)
    return buf.getvalue()


def _speech_audio() -> np.ndarray:
    """A tone while someone speaks, quiet hum elsewhere, silence in the last second."""
    t = np.arange(int(SR * DURATION)) / SR
    audio = 0.01 * np.sin(2 * np.pi * 110 * t)
    for _, start, end, _, _ in TURNS:
        on = (t >= start) & (t < end)
        audio[on] = 0.3 * np.sin(2 * np.pi * 220 * t[on])
    audio[t >= 5.0] = 0.0
    return audio.astype(np.float32)


def fake_film(root: Path, film: str = "demo", audio: bool = True, faces: bool = True, reviewed: bool = True,
              voices: bool = True, sync: bool = True) -> FilmProducts:
    """Write the products; `reviewed=False` leaves out everything the identity review makes."""
    st = Storage(root)
    products = FilmProducts(st, film)
    with products.publish("source_video") as out:
        out.json("probe", {"duration": DURATION, "fps": 24.0, "width": WIDTH, "height": HEIGHT, "frame_count": 144})
    shot_rows = [{"film": film, "shot_id": k, "start_frame": int(a * 24), "end_frame": int(b * 24) - 1,
                  "start_time": a, "end_time": b} for k, a, b, *_ in SHOTS]
    with products.publish("shots") as out:
        out.table("shots", frame("shots", shot_rows, "shots"))
        out.table("transitions", frame("shots", [], "transitions"))
    with products.publish("shot_structure") as out:
        out.table("shot_structure", frame("shot_structure", [
            {**s, "duration": s["end_time"] - s["start_time"], "scale": sc, "camera": cam, "scene_id": scene,
             "act_id": 0, "scale_confidence": 0.8, "camera_confidence": 0.8, "scale_evidence": "{}",
             "camera_evidence": "{}"} for s, (_, _, _, scene, sc, cam) in zip(shot_rows, SHOTS)]))
        out.json("scenes", {"film": film, "nodes": []})
    with products.publish("frames_processed") as out:
        rows = []
        for k, a, b, *_ in SHOTS:
            index = int((a + b) / 2 * 24)
            path = out.blob(f"images/{index:07d}.jpg", _jpg(40 * k + 30, (HEIGHT, WIDTH)))
            rows.append({"film": film, "frame_index": index, "time": index / 24, "shot_id": k, "kept": True,
                         "sharpness": 10.0 + k, "path": path, "width": WIDTH, "height": HEIGHT})
        out.table("manifest", frame("frames_processed", rows))
    tracks = [{"film": film, "track_id": "t0", "shot_id": 0, "label": "ava" if reviewed else None, "start_time": 0.0,
               "end_time": 2.0, "start_frame": 0, "end_frame": 47, "speed": 0.1,
               "path": json.dumps([[24, 0.3, 0.4, 0.2, 0.5], [36, 0.35, 0.4, 0.2, 0.5]]), "instance_ids": "[]"},
              {"film": film, "track_id": "t1", "shot_id": 1, "label": "bo" if reviewed else None, "start_time": 2.0,
               "end_time": 4.0, "start_frame": 48, "end_frame": 95, "speed": 0.4,
               "path": json.dumps([[60, 0.6, 0.5, 0.25, 0.6], [72, 0.62, 0.5, 0.25, 0.6]]), "instance_ids": "[]"},
              {"film": film, "track_id": "t2", "shot_id": 2, "label": "cluster_5", "start_time": 4.0, "end_time": 6.0,
               "start_frame": 96, "end_frame": 143, "speed": 0.0, "path": json.dumps([[120, 0.5, 0.5, 0.1, 0.2]]),
               "instance_ids": "[]"}]
    actions = [{"film": film, "track_id": "t0", "shot_id": 0, "label": tracks[0]["label"], "start_time": 0.0,
                "end_time": 2.0, "action": "walking", "confidence": 0.7, "method": "heuristic", "evidence": "{}"},
               {"film": film, "track_id": "t1", "shot_id": 1, "label": tracks[1]["label"], "start_time": 2.5,
                "end_time": 3.5, "action": "jumping", "confidence": 0.6, "method": "heuristic", "evidence": "{}"}]
    with products.publish("motion") as out:
        out.table("shot_motion", frame("motion", [{"film": film, "shot_id": k, "motion_energy": 0.1 * (k + 1),
                                                    "flow_backend": "dis"} for k, *_ in SHOTS], "shot_motion"))
        out.table("frame_flow", frame("motion", [
            {"film": film, "shot_id": k, "frame_index": f, "time": f / 24, "interval": 4 / 24,
             "magnitude": 0.4 if f == SPIKE_FRAME else 0.05 + 0.002 * (f % 3), "camera_magnitude": 0.0,
             "residual_magnitude": 0.0} for k, a, b, *_ in SHOTS for f in range(int(a * 24) + 4, int(b * 24), 4)],
            "frame_flow"))
        out.table("tracks", frame("motion", tracks, "tracks"))
        out.table("actions", frame("motion", actions, "actions"))
        out.table("poses", frame("motion", [], "poses"))
        out.json("pose_status", {"pose": "skipped"})
    with products.publish("effects_catalog") as out:
        out.table("effects", frame("effects_catalog", [{"film": film, "type": "glow", "category": "lighting",
                                                         "shot_id": 1, "start_time": 2.5, "end_time": 3.0,
                                                         "intensity": 0.8, "peak_frame": 66}], "effects"))
        out.table("signals", frame("effects_catalog", [], "signals"))
        out.table("tagged_frames", frame("effects_catalog", [], "tagged_frames"))
    _audio(products, film, audio)
    if reviewed:
        _identities(products, film, faces)
        if voices:
            _voices(products, film, audio)
    if sync and audio:
        with products.publish("av_sync") as out:
            out.table("beats", pd.DataFrame({"t": BEATS}))
            out.table("cuts", frame("av_sync", [{"shot_index": k, "t": a, "nearest_beat_offset": 0.0,
                                                 "on_beat": True} for k, a, *_ in SHOTS], "cuts"))
            out.table("events", frame("av_sync", [], "events"))
            out.table("summary", frame("av_sync", [{"share_on_beat": 1.0, "share_by_chance": 0.3,
                                                    "av_offset_seconds": 0.0, "av_offset_confidence": 0.5}],
                                       "summary"))
    return products


def _audio(products: FilmProducts, film: str, audio: bool) -> None:
    with products.publish("audio") as out:
        out.json("info", {"has_audio": audio, **({"sample_rate": SR} if audio else {})})
        if audio:
            out.blob("analysis_16k.wav", _wav(_speech_audio()))
    with products.publish("vocals") as out:
        out.json("info", {"has_audio": audio})
        if audio:
            out.blob("vocals.flac", _wav(np.stack([_speech_audio()] * 2, 1), fmt="FLAC"))
    segments = [{"film": film, "start": a, "end": b, "speaker": s, "confidence": 0.9, "overlap": False}
                for _, a, b, s, _ in TURNS] if audio else []
    with products.publish("diarization") as out:
        out.table("segments", frame("diarization", segments))
        out.text("rttm", "")
    with products.publish("voice_features") as out:
        out.table("voice_features", pd.DataFrame(
            [{"film": film, "speaker": s, "f0_median_hz": 180.0 + 40 * k, "f0_range_semitones": 5.0 + k,
              "loudness_mean_db": -20.0, "speaking_rate_syllables_per_s": 4.0, "arousal": 0.5, "tone": "neutral",
              "tone_method": "heuristic"} for k, (_, _, _, s, _) in enumerate(TURNS)] if audio else [],
            columns=None if audio else ["film", "speaker"]))


def _identities(products: FilmProducts, film: str, faces: bool) -> None:
    found = FACES if faces else []
    rows = [{"face_id": f"{k:07d}_f00", "film": film, "frame_index": int(t * 24), "time": t, "shot_id": shot,
             "instance_id": f"{k:07d}_00", "x0": 40.0 + k, "y0": 10.0, "x1": 80.0 + k, "y1": 50.0, "score": 0.9,
             "size": 20.0, "landmarks": [0.0] * 10, "sharpness": 50.0, "excluded": None,
             "crop_path": f"{film}/faces/crops/{k:07d}_f00.jpg", "track_id": k, "cluster": 0 if name == "ava" else 1,
             "probability": 1.0} for k, (name, t, shot) in enumerate(found)]
    with products.publish("identity_clusters") as out:
        out.table("faces", frame("identity_clusters", rows, "faces"))
        out.table("instances", frame("identity_clusters", [{"instance_id": r["instance_id"], "cluster": r["cluster"]}
                                                            for r in rows], "instances"))
        out.json("clusters", {"clusters": []})
    index = []
    with products.publish("characters") as out:
        for k, (name, _, _) in enumerate(found):
            face = out.blob(f"{name}/faces/{k:07d}_f00.jpg", _jpg(60 * k))
            rgba = np.dstack([np.full((40, 30, 3), 90, np.uint8), np.full((40, 30), 255, np.uint8)])
            inst = out.blob(f"{name}/instances/{k:07d}_00.png", cv2.imencode(".png", rgba)[1].tobytes())
            index += [{"character": name, "kind": "face", "id": f"{k:07d}_f00", "cluster": "0", "path": face,
                       "decision": "test"},
                      {"character": name, "kind": "instance", "id": f"{k:07d}_00", "cluster": "0", "path": inst,
                       "decision": "test"}]
        out.table("index", frame("characters", index))
    review = Review(film, "identities", version=3, submitted=True, decided_by="person",
                    decisions={"clusters": {"0": {"name": "ava"}, "1": {"name": "bo"}}, "faces": {}})
    st = products.storage
    path = st.film_dir(film) / "reviews" / "identities.json"
    st.write_text(path, json.dumps(review.to_json()))


def _voices(products: FilmProducts, film: str, audio: bool) -> None:
    turns = [{"turn_id": k, "start": a, "end": b, "speaker": s, "character": c,
              "confidence": 0.9 if c else 0.0, "source": "on_screen" if c else "unmapped"}
             for k, a, b, s, c in TURNS] if audio else []
    with products.publish("character_voices") as out:
        out.table("mapping", frame("character_voices", [{"speaker": s, "character": c, "confidence": 0.9,
                                                         "reason": "test"} for _, _, _, s, c in TURNS] if audio
                                   else [], "mapping"))
        out.table("turns", frame("character_voices", turns, "turns"))
        clips = []
        for k, a, b, s, c in TURNS if audio else []:
            if c:
                out.blob(f"clips/{c}/{k}.wav", _wav(_speech_audio()[int(a * SR):int(b * SR)]))
                clips.append({"character": c, "turn_id": k, "start": a, "end": b, "path": f"clips/{c}/{k}.wav"})
        out.table("clips", frame("character_voices", clips, "clips"))


def materialise_datasets(root: Path, film: str = "demo", config: str | None = None, instance=None, **parts) -> dict:
    """Write a fake film's products under `root/data`, then materialise film_timeline and the four datasets
    (on `instance`, else a fresh test instance); returns the materialisation metadata per asset."""
    from contextlib import nullcontext

    from dagster import instance_for_test, materialize

    from animproc_dagster.definitions import build_defs
    from assets.datasets import PER_FILM_ASSETS
    from partitions import add_film, films
    from resources.film_config import FilmConfigResource
    from resources.storage import StorageResource

    fake_film(root / "data", film, **parts)
    (root / "configs").mkdir(exist_ok=True)
    if config:
        (root / "configs" / f"{film}.yaml").write_text(config)
    defs = build_defs(StorageResource(root=str(root / "data")), FilmConfigResource(config_dir=str(root / "configs")))
    with (nullcontext(instance) if instance is not None else instance_for_test()) as inst:
        if film not in films(inst):
            add_film(inst, film)
        result = materialize(PER_FILM_ASSETS, partition_key=film, instance=inst, resources=defs.resources)
        return {a.key.to_user_string(): result.asset_materializations_for_node(a.key.to_user_string())[0].metadata
                for a in PER_FILM_ASSETS}
