"""Flow spikes and their sound-effect onsets on real clips, through the core functions the assets call.

  python bench/flow_spikes.py     # the sample film (rendered to a temp folder), the Sintel trailer, Tears of Steel battle
  python bench/flow_spikes.py --clip sintel_trailer/sintel.mp4 --clip /path/film.mp4

Per clip: shots (the shots asset's scan), motion's one flow pass (DIS, faces looked for as without a faces
product), the flow spikes av_sync finds in motion's per-frame flow, the accompaniment stem of the embedded
separator, its onsets off the beat, and how many spikes and onsets meet within av_sync's reach (0.5 s), with
the median absolute offset and the share of the film's time within that reach of an onset (what spikes
placed at random would get). Prints one JSON line per clip; `--save` keeps the per-frame flow. Not a timing
benchmark.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "media"


def measure(path: Path, save: Path | None = None) -> dict:
    from animproc.audio.extract import extract_audio
    from animproc.audio.separate import separate_file
    from animproc.config import FilmConfig
    from animproc.multimodal import sync
    from animproc.temporal.flow import DisFlow
    from animproc.temporal.motion import scan_motion
    from animproc.temporal.stages import motion_tables
    from animproc.video.probe import probe_media
    from animproc.video.scan import FrameWriter, scan_film
    from animproc.video.shots import dissolve_ranges
    from resources.face_analyzer import FaceAnalyzerResource
    from resources.separator import SeparatorResource

    config, probe = FilmConfig(), probe_media(path)
    scan = scan_film(str(path), config, probe.fps, FrameWriter(lambda n, b: None))
    shots, transitions = scan.shots_table(), scan.transitions_table()
    dissolves = dissolve_ranges(transitions)
    results = scan_motion(str(path), shots, probe.fps, config.temporal, DisFlow(), None,
                          FaceAnalyzerResource().model().detector, dissolves=dissolves)
    frames = motion_tables("bench", results, "dis")["frame_flow"]
    if save is not None:
        save.mkdir(parents=True, exist_ok=True)
        frames.to_parquet(save / f"{path.stem}_frame_flow.parquet")
    spikes = sync.flow_spikes(frames, probe.fps, sync.gradual_transitions(transitions))
    out = {"clip": path.name, "shots": len(shots), "flow_frames": len(frames), "flow_spikes": len(spikes),
           "shots_with_spikes": int(spikes["shot_id"].nunique()),
           "spike_times": [round(float(t), 2) for t in spikes["t"]]}
    with tempfile.TemporaryDirectory() as tmp:
        wav, flac = Path(tmp) / "a.wav", Path(tmp) / "a.flac"
        if extract_audio(path, wav, flac) is None:
            return {**out, "audio": False}
        separate_file(SeparatorResource().model(), flac, Path(tmp) / "v.flac", Path(tmp) / "acc.flac")
        beats, onsets = sync.beats_and_onsets(sync.onset_envelope(Path(tmp) / "acc.flac"))
    events = sync.event_table(sync.visual_events(None, None, probe.fps, spikes), onsets, beats)
    counts = sync.event_counts(events)
    spike_offsets = events.loc[events["kind"] == "flow_spike", "offset"].dropna()
    effect_onsets = events.loc[events["kind"] == "sound_onset", "t"].to_numpy(float)
    return {**out, "audio": True, "beats": len(beats), "onsets": len(onsets),
            "sound_effect_onsets": counts.get("sound_onset", {}).get("events", 0),
            "onsets_matched_to_a_spike": counts.get("sound_onset", {}).get("matched", 0),
            "spikes_matched_to_an_onset": counts.get("flow_spike", {}).get("matched", 0),
            "median_abs_offset_s": round(float(np.median(np.abs(spike_offsets))), 3) if len(spike_offsets) else None,
            "share_of_time_within_reach_of_an_onset": round(sync.chance_share(effect_onsets, probe.duration_s,
                                                                              sync.EVENT_REACH), 3)}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clip", action="append", help="a path, or one relative to ../shared/media")
    ap.add_argument("--save", type=Path, help="a folder for each clip's per-frame flow (Parquet)")
    args = ap.parse_args()
    clips = [Path(c) if Path(c).is_absolute() else SHARED / c for c in args.clip or []]
    with tempfile.TemporaryDirectory() as tmp:
        if not args.clip:
            from animproc.sample.film import render_sample_film

            render_sample_film(Path(tmp) / "sample.mp4")
            clips = [Path(tmp) / "sample.mp4", SHARED / "sintel_trailer" / "sintel.mp4",
                     SHARED / "tos_battle" / "tears-of-steel-battle-clip-medium.webm"]
        for clip in clips:
            print(json.dumps(measure(clip, args.save)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
