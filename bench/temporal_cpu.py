"""CPU seconds of the `motion` and `effects_catalog` scans per film second, as the assets run them on a film
without reviewed products (DIS flow, faces looked for on the way, BlazePose, heuristic actions; effects over
motion's tracks), beside PyAV's decode-only CPU time of the same file (the floor). CPU seconds (the process's
user + system time, decoding threads included), not wall seconds: on a shared machine wall time follows the
others' load, CPU time much less; the load average is printed with them.

    .venv/bin/python bench/temporal_cpu.py FILE [--start 30 --seconds 45]

`--start/--seconds` remux that excerpt (no re-encode, from the keyframe at or before `--start`) into a temp
folder first, e.g. 45 s of bench/.cache/film_1080p_5min.mp4 (made by bench/film.py)."""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import av

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def excerpt(src: Path, dst: Path, start: float, seconds: float) -> Path:
    """Video and audio packets of `src` from the keyframe at or before `start` for `seconds`, into `dst`."""
    with av.open(str(src)) as i, av.open(str(dst), "w") as o:
        video = i.streams.video[0]
        audio = i.streams.audio[0] if i.streams.audio else None
        outs = {video: o.add_stream_from_template(video)}
        if audio is not None:
            outs[audio] = o.add_stream_from_template(audio)
        i.seek(int(start / video.time_base), stream=video, backward=True)
        first: dict = {}
        for p in i.demux(*outs):
            if p.dts is None or p.pts is None or (p.stream not in first and (
                    (p.stream is video and not p.is_keyframe) or (p.stream is not video and video not in first))):
                continue
            first.setdefault(p.stream, p.pts)
            if float((p.pts - first[p.stream]) * p.time_base) > seconds:
                if p.stream is video:
                    break
                continue
            p.pts, p.dts = p.pts - first[p.stream], p.dts - first[p.stream]
            p.stream = outs[p.stream]
            o.mux(p)
    return dst


def measure(path: Path) -> dict:
    from animproc.config import FilmConfig
    from animproc.temporal.effects import scan_effects
    from animproc.temporal.motion import scan_motion
    from animproc.temporal.stages import motion_tables, track_boxes
    from animproc.video.probe import probe_media
    from animproc.video.scan import FrameWriter, scan_film
    from animproc.video.shots import dissolve_ranges
    from resources.action_recognizer import ActionRecognizerResource
    from resources.face_analyzer import FaceAnalyzerResource
    from resources.optical_flow import OpticalFlowResource
    from resources.pose_estimator import PoseEstimatorResource

    info = probe_media(path)
    config = FilmConfig()
    scan = scan_film(path, config, info.fps, FrameWriter(lambda n, b: None))
    shots, dissolves = scan.shots_table(), dissolve_ranges(scan.transitions_table())
    flow, pose = OpticalFlowResource().model(), PoseEstimatorResource().model()
    recognizer, detector = ActionRecognizerResource().model(), FaceAnalyzerResource().model().detector
    t, out = config.temporal, {"file": path.name, "size": f"{info.width}x{info.height}",
                               "film_s": round(info.duration_s, 2)}

    def clock(name: str, work):
        started = time.process_time()
        result = work()
        out[f"{name}_cpu_s"] = round(time.process_time() - started, 2)
        out[f"{name}_cpu_per_film_s"] = round(out[f"{name}_cpu_s"] / info.duration_s, 3)
        return result

    def decode() -> int:
        with av.open(str(path)) as c:
            stream = c.streams.video[0]
            stream.codec_context.skip_frame = "NONREF"  # what the scans decode
            return sum(1 for _ in c.decode(stream))

    clock("decode", decode)
    results = clock("motion", lambda: scan_motion(path, shots, info.fps, t, flow, None, detector, pose, recognizer,
                                                  dissolves=dissolves))
    tracks = motion_tables("bench", results, flow.name)["tracks"]
    samples = clock("effects", lambda: scan_effects(path, shots, info.fps, t.effects_fps, 2 * t.analysis_width,
                                                    track_boxes(tracks), t.effect_threshold).samples)
    return {**out, "tracks": len(tracks), "effect_samples": len(samples), "load_1min": round(os.getloadavg()[0], 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file", type=Path)
    ap.add_argument("--start", type=float, default=None)
    ap.add_argument("--seconds", type=float, default=45.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.file if args.start is None else excerpt(args.file, Path(tmp) / "excerpt.mp4", args.start,
                                                            args.seconds)
        print(json.dumps(measure(path)))


if __name__ == "__main__":
    main()
