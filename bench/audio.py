"""Benchmark of the audio chain with the embedded defaults: audio -> vocals -> diarization -> voice_features.

Builds a >= 10-minute stereo input from the real clips in ../shared/media (the labelled two-speaker
recording centred over Big Buck Bunny's score, the Tears of Steel battle, the Sintel trailer; looped),
and the same at twice the length, then runs each in its own process and prints per-stage seconds, the
real-time factor (processing time / audio duration) and peak RSS.

Usage: python bench/audio.py [--minutes 10]
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import media  # noqa: E402

RATE = 44100


def _stereo(path: Path) -> np.ndarray:
    r = av.AudioResampler(format="fltp", layout="stereo", rate=RATE)
    with av.open(str(path)) as c:
        return np.concatenate([g.to_ndarray() for f in c.decode(audio=0) for g in r.resample(f)], axis=1)


def build_input(minutes: float) -> Path:
    out = media.CACHE / f"audio_{int(minutes)}min.flac"
    if out.exists():
        return out
    from animproc.audio.separate import StemWriter

    shared = media.SHARED
    speech = _stereo(shared / "speech_2spk" / "sample.wav")
    music = _stereo(shared / "bbb_720p_30s" / "big_buck_bunny_0_30.webm")
    n = min(speech.shape[1], music.shape[1])
    dialogue = speech[:, :n] + 0.5 * music[:, :n] * np.sqrt((speech[:, :n] ** 2).mean() / (music[:, :n] ** 2).mean())
    pieces = [dialogue, _stereo(shared / "tos_battle" / "tears-of-steel-battle-clip-medium.webm"),
              _stereo(shared / "sintel_trailer" / "sintel.mp4")]
    media.CACHE.mkdir(parents=True, exist_ok=True)
    writer = StemWriter(out.with_suffix(".part.flac"), RATE)
    total, k = 0, 0
    while total < minutes * 60 * RATE:
        piece = pieces[k % len(pieces)].astype(np.float32)
        writer.write(piece, 0, 0)
        total += piece.shape[1]
        k += 1
    writer.close()
    out.with_suffix(".part.flac").rename(out)
    return out


def run(path: str) -> dict:
    from animproc.audio.diarize import EmbeddedDiarizer
    from animproc.audio.extract import extract_audio, read_mono
    from animproc.audio.features import speaker_features
    from animproc.audio.separate import EmbeddedSeparator, separate_file
    import pandas as pd

    seconds = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t = time.perf_counter()
        track = extract_audio(path, tmp / "a.wav", tmp / "a.flac")
        seconds["audio"] = time.perf_counter() - t
        t = time.perf_counter()
        separate_file(EmbeddedSeparator(), tmp / "a.flac", tmp / "v.flac", tmp / "acc.flac")
        seconds["vocals"] = time.perf_counter() - t
        t = time.perf_counter()
        wav = read_mono(tmp / "a.wav")
        segments = EmbeddedDiarizer()(wav)
        seconds["diarization"] = time.perf_counter() - t
        t = time.perf_counter()
        table = pd.DataFrame([s.to_dict() for s in segments])
        features = speaker_features(wav, table) if len(table) else pd.DataFrame()
        seconds["voice_features"] = time.perf_counter() - t
    duration = track.duration_s
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"duration_s": round(duration, 1), "seconds": {k: round(v, 2) for k, v in seconds.items()},
            "rtf": round(sum(seconds.values()) / duration, 4), "speakers": len({s.speaker for s in segments}),
            "feature_rows": len(features), "peak_rss_mb": round(peak, 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--run", metavar="PATH")
    args = parser.parse_args()
    if args.run:
        print(json.dumps(run(args.run)))
        return
    results = {}
    for scale in (1, 2):
        path = build_input(args.minutes * scale)
        proc = subprocess.run([sys.executable, __file__, "--run", str(path)], capture_output=True, text=True)
        if proc.returncode:
            raise SystemExit(proc.stderr)
        results[scale] = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"{'input':<10}{'audio s':>9}{'audio':>8}{'vocals':>8}{'diariz.':>9}{'features':>10}{'RTF':>8}{'peak RSS MB':>13}")
    for scale, r in results.items():
        s = r["seconds"]
        print(f"{scale}x{'':<8}{r['duration_s']:>9.0f}{s['audio']:>8.1f}{s['vocals']:>8.1f}{s['diarization']:>9.1f}"
              f"{s['voice_features']:>10.1f}{r['rtf']:>8.3f}{r['peak_rss_mb']:>13.1f}")
    print(f"\ncombined real-time factor at 1x: {results[1]['rtf']:.3f} (target <= 0.1 on 2 cores)")
    print(f"peak RSS at 2x / 1x: {results[2]['peak_rss_mb'] / results[1]['peak_rss_mb']:.3f}")


if __name__ == "__main__":
    main()
