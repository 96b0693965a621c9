"""Invariants of the shots table and frame manifests; each function returns the problems it finds."""
from __future__ import annotations

import pandas as pd


def shot_problems(shots: pd.DataFrame, frame_count: int) -> list[str]:
    if shots.empty:
        return ["no shots"] if frame_count else []
    problems = []
    starts, ends = shots["start_frame"].to_numpy(), shots["end_frame"].to_numpy()
    if starts[0] != 0:
        problems.append(f"first shot starts at frame {starts[0]}, not 0")
    if ends[-1] != frame_count - 1:
        problems.append(f"last shot ends at frame {ends[-1]}, the film's last frame is {frame_count - 1}")
    if (ends < starts).any():
        problems.append(f"{int((ends < starts).sum())} shots end before they start")
    gaps = (starts[1:] != ends[:-1] + 1).sum()
    if gaps:
        problems.append(f"{int(gaps)} shots do not start right after the previous one")
    if not shots["shot_id"].is_unique:
        problems.append("shot ids are not unique")
    return problems


def frame_index_problems(frames: pd.DataFrame, frame_count: int) -> list[str]:
    problems = []
    idx = frames["frame_index"]
    if not idx.is_unique:
        problems.append(f"{int(idx.duplicated().sum())} repeated frame indices")
    if not idx.is_monotonic_increasing:
        problems.append("frame indices are not in increasing order")
    if len(idx) and (idx.min() < 0 or idx.max() >= frame_count):
        problems.append(f"frame indices outside 0..{frame_count - 1}")
    if "time" in frames and not frames["time"].is_monotonic_increasing:
        problems.append("frame times are not in increasing order")
    return problems


def count_problems(frames: pd.DataFrame, shots: pd.DataFrame, frame_count: int) -> list[str]:
    n = len(frames)
    problems = []
    if frame_count and n == 0:
        problems.append("no frames were sampled")
    if n > frame_count:
        problems.append(f"{n} frames sampled from a film of {frame_count} frames")
    if len(shots) and n > 0:
        per_shot = frames.groupby("shot_id").size()
        unknown = set(per_shot.index) - set(shots["shot_id"])
        if unknown:
            problems.append(f"frames refer to unknown shots {sorted(unknown)[:5]}")
    return problems
