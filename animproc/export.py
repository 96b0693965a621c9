"""Shot lists in interchange formats.

CSV follows PySceneDetect's scene list (`write_scene_list` without the cut-list line): 1-based start
frames, end frames and times exclusive of the next shot. Times are the frames' own timestamps, so the
list stays right on variable-frame-rate films."""
from __future__ import annotations

import csv
import io

import pandas as pd

CSV_HEADER = ["Scene Number", "Start Frame", "Start Timecode", "Start Time (seconds)", "End Frame", "End Timecode",
              "End Time (seconds)", "Length (frames)", "Length (timecode)", "Length (seconds)"]


def timecode(seconds: float) -> str:
    ms = int(round(seconds * 1000))
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def _exclusive_ends(shots: pd.DataFrame) -> list[float]:
    """End time of each shot = start of the next; the last shot ends one frame-duration after its start frame."""
    starts = shots["start_time"].tolist()
    if not starts:
        return []
    last = shots.iloc[-1]
    frames = int(last["end_frame"] - last["start_frame"]) + 1
    step = (last["end_time"] - last["start_time"]) / (frames - 1) if frames > 1 else 0.0
    if step <= 0 and len(shots) > 1:
        prev = shots.iloc[-2]
        step = (last["start_time"] - prev["start_time"]) / max(1, last["start_frame"] - prev["start_frame"])
    return starts[1:] + [float(last["end_time"] + step)]


STRUCTURE_COLUMNS = {"scale": "Scale", "camera": "Camera Movement", "scene_id": "Scene ID"}


def shots_csv(shots: pd.DataFrame) -> str:
    """PySceneDetect's scene-list columns (byte-identical to its writer); when the shots carry `scale`, `camera`
    and `scene_id` (from shot_structure), those follow as extra columns."""
    extra = [c for c in STRUCTURE_COLUMNS if c in shots.columns]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_HEADER + [STRUCTURE_COLUMNS[c] for c in extra])
    for row, end_time in zip(shots.itertuples(index=False), _exclusive_ends(shots)):
        frames = int(row.end_frame - row.start_frame + 1)
        length = end_time - row.start_time
        writer.writerow([row.shot_id + 1, row.start_frame + 1, timecode(row.start_time), f"{row.start_time:.3f}",
                         row.end_frame + 1, timecode(end_time), f"{end_time:.3f}", frames, timecode(length),
                         f"{length:.3f}", *[getattr(row, c) for c in extra]])
    return buf.getvalue()


def shots_json(film: str, shots: pd.DataFrame, transitions: pd.DataFrame, probe: dict) -> dict:
    """`cuts`: first frame of every shot after the first; `transitions`: each with type, first, last."""
    extra = [c for c in shots.columns if c not in ("film", "shot_id", "start_frame", "end_frame", "start_time", "end_time")]
    return {
        "film": film,
        "fps": probe.get("fps"),
        "frame_count": probe.get("frame_count"),
        "vfr": probe.get("vfr", False),
        "cuts": [int(s) for s in shots["start_frame"].iloc[1:]],
        "transitions": [{"type": t.kind, "first": int(t.first), "last": int(t.last),
                         "boundary": None if pd.isna(t.boundary) else int(t.boundary)}
                        for t in transitions.itertuples(index=False)],
        "shots": [{"shot_id": int(s.shot_id), "start_frame": int(s.start_frame), "end_frame": int(s.end_frame),
                   "start_time": round(float(s.start_time), 6), "end_time": round(float(s.end_time), 6),
                   **{c: getattr(s, c) for c in extra}}
                  for s in shots.itertuples(index=False)],
    }
