"""Active-speaker quality against a reference: per speech turn, whether the track chosen speaks it (the
track's face lies on the reference speaker's face) or, for a line spoken off screen, whether it was called
off screen."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd


def track_names(scores: pd.DataFrame, on_screen: list[dict], fps: float) -> dict[int, str | None]:
    """Each track's character by the reference's face boxes (the sample's `on_screen` truth): the name whose
    box holds the track's face centre most often."""
    names = {}
    for track_id, rows in scores.groupby("track_id"):
        votes: Counter = Counter()
        for r in rows.itertuples():
            frame = min(int(round(r.t * fps)), len(on_screen) - 1)
            cx, cy = (r.x0 + r.x1) / 2, (r.y0 + r.y1) / 2
            for c in on_screen[frame]["characters"]:
                b = c["face_bbox"]
                if b[0] <= cx <= b[2] and b[1] <= cy <= b[3]:
                    votes[c["name"]] += 1
        names[int(track_id)] = votes.most_common(1)[0][0] if votes else None
    return names


def _overlapping_turn(turns: pd.DataFrame, ref: dict):
    """The found turn that overlaps the reference turn most (None when none overlaps it)."""
    overlap = (np.minimum(turns["end"], ref["end"]) - np.maximum(turns["start"], ref["start"])).clip(lower=0)
    return turns.loc[overlap.idxmax()] if len(turns) and overlap.max() > 0 else None


def _judged(turns: pd.DataFrame, reference: list[dict], on_screen) -> pd.DataFrame:
    """One row per reference turn: what the found turn overlapping it most chose (None when none overlaps,
    `off_screen`, or `on_screen(found, ref)` for a turn given to a track) and whether that is right."""
    rows = []
    for ref in reference:
        found = _overlapping_turn(turns, ref)
        if found is None:
            chosen = None
        elif bool(found["off_screen"]):
            chosen = "off_screen"
        else:
            chosen = on_screen(found, ref)
        expected = ref["speaker"] if ref["on_screen"] else "off_screen"
        rows.append({"start": ref["start"], "end": ref["end"], "speaker": ref["speaker"], "expected": expected,
                     "chosen": chosen, "correct": chosen == expected})
    return pd.DataFrame(rows)


def turn_accuracy(turns: pd.DataFrame, reference: list[dict], names: dict[int, str | None]) -> pd.DataFrame:
    """Per reference turn (speaker, start, end, on_screen): right when the found turn overlapping it most chose
    the track whose reference name is the speaker's, or called a line spoken off screen off screen."""
    return _judged(turns, reference, lambda found, ref: names.get(int(found["best_track"])))


def region_turn_accuracy(turns: pd.DataFrame, scores: pd.DataFrame, reference: list[dict]) -> pd.DataFrame:
    """Per reference turn labelled with the speaker's face region (`face`: x0, y0, x1, y1 in source pixels,
    for on-screen turns): right when the found turn overlapping it most chose a track whose face centre lies
    in that region during the turn, or, for a line spoken off screen, when it was called off screen."""
    def in_region(found, ref) -> str:
        track = int(found["best_track"])
        rows_of = scores[(scores["track_id"] == track) & (scores["t"] >= found["start"]) & (scores["t"] <= found["end"])]
        cx, cy = float(((rows_of["x0"] + rows_of["x1"]) / 2).median()), float(((rows_of["y0"] + rows_of["y1"]) / 2).median())
        face = ref.get("face")
        inside = face is not None and face[0] <= cx <= face[2] and face[1] <= cy <= face[3]
        return ref["speaker"] if inside else f"track {track} at ({cx:.0f}, {cy:.0f})"

    return _judged(turns, reference, in_region)


def mapping_accuracy(mapping: pd.DataFrame, segments_turns: pd.DataFrame, reference: list[dict],
                     character_names: dict[str, str | None]) -> pd.DataFrame:
    """Per diarized speaker: the reference speaker it mostly is (by overlap with the reference turns), the
    character it was mapped to, that character's reference name (`character_names`), and whether they agree."""
    rows = []
    for m in mapping.itertuples():
        mine = segments_turns[segments_turns["speaker"] == m.speaker]
        votes: Counter = Counter()
        for t in mine.itertuples():
            for ref in reference:
                votes[ref["speaker"]] += max(0.0, min(t.end, ref["end"]) - max(t.start, ref["start"]))
        truth = votes.most_common(1)[0][0] if votes else None
        name = character_names.get(m.character) if isinstance(m.character, str) else None
        rows.append({"speaker": m.speaker, "is": truth, "mapped_to": m.character, "which_is": name,
                     "correct": name == truth})
    return pd.DataFrame(rows)
