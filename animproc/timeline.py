"""One film's timeline: per shot (and per slice of `slice_seconds`) who is on screen, where their faces are, who
speaks, effects, actions, music beats and loudness, joined from the separate products.

Everything is painted onto one grid of slices (0.1 s by default, the seed's sync precision); a shot's row
aggregates the slices its span covers, so shots and slices never disagree. Loudness is read from the audio in
blocks (`slice_power`), never holding the film's audio in memory."""
from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from animproc.progress import NO_PROGRESS, Progress

SHOT_COLUMNS = ["film", "shot_id", "start_time", "end_time", "duration", "scene_id", "act_id", "scale", "camera",
                "on_screen", "face_boxes", "speakers", "voices", "speech_seconds", "effects", "actions", "beats",
                "cut_on_beat", "loudness_db", "vocals_db"]
SLICE_COLUMNS = ["film", "slice", "start", "end", "shot_id", "scene_id", "on_screen", "speaker", "voice", "effects",
                 "actions", "beat", "loudness_db", "vocals_db"]
BEAT_TOLERANCE = 0.1  # a cut within this of a beat is on the beat (issue 14's av_sync measure)
SILENCE_DB = -120.0


@dataclass
class TimelineInputs:
    """The joined products, as plain tables. Optional parts are None when the film lacks them (`why` says so)."""

    film: str
    duration: float
    structure: pd.DataFrame  # shot_structure: shot_id, start_time, end_time, scene_id, act_id, scale, camera
    faces: pd.DataFrame | None = None  # character, time, shot_id, box (x0, y0, x1, y1 in picture fractions)
    tracks: pd.DataFrame | None = None  # motion tracks: label (a character name or not), start_time, end_time
    speech: pd.DataFrame | None = None  # start, end, speaker (voice), character (or None)
    effects: pd.DataFrame | None = None  # type, start_time, end_time
    actions: pd.DataFrame | None = None  # label, action, start_time, end_time
    beats: np.ndarray | None = None  # beat times, seconds
    loudness: np.ndarray | None = None  # mean power per slice of the mixture (slice_power)
    vocals: np.ndarray | None = None  # mean power per slice of the vocals stem
    characters: set[str] = field(default_factory=set)  # the film's named characters
    why: dict[str, str] = field(default_factory=dict)  # part -> why it is empty


def slice_count(duration: float, slice_seconds: float) -> int:
    return max(1, math.ceil(round(duration / slice_seconds, 6)))


def slice_power(path, slice_seconds: float, duration: float, block_seconds: float = 30.0,
                progress: Progress = NO_PROGRESS, name: str = "loudness") -> np.ndarray:
    """Mean signal power of every slice of an audio file (any channels, mono-mixed), read block by block.
    `progress` hears of the seconds of audio read (as the task `name`)."""
    import soundfile as sf

    n = slice_count(duration, slice_seconds)
    total, counts = np.zeros(n), np.zeros(n)
    with sf.SoundFile(str(path)) as f:
        rate, offset = f.samplerate, 0
        task = progress.task(name, f.frames / rate, "s of audio")
        for block in f.blocks(blocksize=int(rate * block_seconds), dtype="float32", always_2d=True):
            mono = block.mean(axis=1).astype(np.float64)
            index = np.floor((offset + np.arange(len(mono))) / (rate * slice_seconds) + 1e-9).astype(int)
            keep = index < n
            total += np.bincount(index[keep], weights=mono[keep] ** 2, minlength=n)[:n]
            counts += np.bincount(index[keep], minlength=n)[:n]
            offset += len(mono)
            task.advance(len(mono) / rate)
        task.finish()
    return np.where(counts > 0, total / np.maximum(counts, 1), np.nan)


def to_db(power: float) -> float | None:
    if power is None or not np.isfinite(power):
        return None
    return round(float(max(10 * np.log10(max(power, 1e-12)), SILENCE_DB)), 2)


def _span(start: float, end: float, s: float, n: int) -> range:
    first = max(0, int(math.floor(start / s + 1e-9)))
    last = min(n, max(first + 1, int(math.ceil(end / s - 1e-9))))
    return range(first, last)


def _paint(n: int, s: float, rows: Iterable[tuple[float, float, str]]) -> list[set[str]]:
    lanes: list[set[str]] = [set() for _ in range(n)]
    for start, end, name in rows:
        for i in _span(float(start), float(end), s, n):
            lanes[i].add(name)
    return lanes


def _dominant_speech(n: int, s: float, speech: pd.DataFrame | None, column: str) -> list[str | None]:
    """The voice (or character) that speaks longest inside each slice."""
    best: list[tuple[float, str | None]] = [(0.0, None)] * n
    if speech is None:
        return [None] * n
    for r in speech.itertuples():
        name = getattr(r, column)
        if not isinstance(name, str) or not name:
            continue
        for i in _span(r.start, r.end, s, n):
            share = min(r.end, (i + 1) * s) - max(r.start, i * s)
            if share > best[i][0]:
                best[i] = (share, name)
    return [name for _, name in best]


def _named(value) -> bool:
    return isinstance(value, str) and bool(value)


@dataclass
class Grid:
    """The film painted onto slices."""

    slice_seconds: float
    on_screen: list[set[str]]
    speaker: list[str | None]
    voice: list[str | None]
    effects: list[set[str]]
    actions: list[set[str]]
    beat: np.ndarray  # bool per slice, or all False without beats
    loudness: np.ndarray
    vocals: np.ndarray


def paint(inputs: TimelineInputs, slice_seconds: float) -> Grid:
    s, n = slice_seconds, slice_count(inputs.duration, slice_seconds)
    present = []
    if inputs.tracks is not None:
        present += [(r.start_time, r.end_time, r.label) for r in inputs.tracks.itertuples()
                    if _named(r.label) and r.label in inputs.characters]
    if inputs.faces is not None:
        present += [(r.time, r.time + 1e-6, r.character) for r in inputs.faces.itertuples()]
    effects = [] if inputs.effects is None else [(r.start_time, r.end_time, r.type) for r in inputs.effects.itertuples()]
    actions = [] if inputs.actions is None else [
        (r.start_time, r.end_time, f"{r.label}: {r.action}" if _named(r.label) else r.action)
        for r in inputs.actions.itertuples()]
    beat = np.zeros(n, bool)
    if inputs.beats is not None and len(inputs.beats):
        idx = (np.asarray(inputs.beats, float) / s).astype(int)
        beat[idx[(idx >= 0) & (idx < n)]] = True
    nan = np.full(n, np.nan)
    return Grid(s, _paint(n, s, present), _dominant_speech(n, s, inputs.speech, "character"),
                _dominant_speech(n, s, inputs.speech, "speaker"), _paint(n, s, effects), _paint(n, s, actions), beat,
                nan if inputs.loudness is None else _fit(inputs.loudness, n),
                nan if inputs.vocals is None else _fit(inputs.vocals, n))


def _fit(values: np.ndarray, n: int) -> np.ndarray:
    out = np.full(n, np.nan)
    out[:min(n, len(values))] = values[:n]
    return out


def _jsonl(values: Iterable[str]) -> str:
    return json.dumps(sorted(values))


def _face_boxes(faces: pd.DataFrame | None, shot_id: int) -> str:
    """Per character, the median face box of the shot (x0, y0, x1, y1 as picture fractions)."""
    if faces is None or faces.empty:
        return "{}"
    group = faces[faces["shot_id"] == shot_id]
    return json.dumps({name: [round(float(v), 4) for v in np.median(np.stack(g["box"].to_list()), axis=0)]
                       for name, g in group.groupby("character")}, sort_keys=True)


def _speech_in(speech: pd.DataFrame | None, start: float, end: float) -> tuple[set[str], set[str], float]:
    if speech is None or speech.empty:
        return set(), set(), 0.0
    overlap = (np.minimum(speech["end"], end) - np.maximum(speech["start"], start)).clip(lower=0)
    hit = speech[overlap > 0]
    return ({c for c in hit["character"] if _named(c)}, {v for v in hit["speaker"] if _named(v)},
            round(float(overlap.sum()), 3))


def _power_db(power: np.ndarray) -> float | None:
    finite = power[np.isfinite(power)]
    return to_db(float(finite.mean())) if len(finite) else None


def shot_rows(inputs: TimelineInputs, grid: Grid) -> pd.DataFrame:
    s, n, rows = grid.slice_seconds, len(grid.beat), []
    beats = None if inputs.beats is None else np.asarray(inputs.beats, float)
    for r in inputs.structure.sort_values("start_time").itertuples():
        span = _span(r.start_time, r.end_time, s, n)
        union = lambda lanes: set().union(*(lanes[i] for i in span)) if len(span) else set()  # noqa: E731
        speakers, voices, talk = _speech_in(inputs.speech, r.start_time, r.end_time)
        in_shot = beats[(beats >= r.start_time) & (beats < r.end_time)] if beats is not None else []
        on_beat = (bool(np.min(np.abs(beats - r.start_time)) <= BEAT_TOLERANCE) if beats is not None and len(beats)
                   else None)
        rows.append({"film": inputs.film, "shot_id": int(r.shot_id), "start_time": float(r.start_time),
                     "end_time": float(r.end_time), "duration": round(float(r.end_time - r.start_time), 3),
                     "scene_id": int(r.scene_id), "act_id": int(r.act_id), "scale": r.scale, "camera": r.camera,
                     "on_screen": _jsonl(union(grid.on_screen)), "face_boxes": _face_boxes(inputs.faces, r.shot_id),
                     "speakers": _jsonl(speakers), "voices": _jsonl(voices), "speech_seconds": talk,
                     "effects": _jsonl(union(grid.effects)), "actions": _jsonl(union(grid.actions)),
                     "beats": int(len(in_shot)), "cut_on_beat": on_beat,
                     "loudness_db": _power_db(grid.loudness[span.start:span.stop]),
                     "vocals_db": _power_db(grid.vocals[span.start:span.stop])})
    return pd.DataFrame(rows, columns=SHOT_COLUMNS)


def shot_at(structure: pd.DataFrame, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The shot and scene holding each time (-1 outside every shot)."""
    ordered = structure.sort_values("start_time")
    starts, ends = ordered["start_time"].to_numpy(float), ordered["end_time"].to_numpy(float)
    k = np.searchsorted(starts, times, side="right") - 1
    inside = (k >= 0) & (times < ends[np.clip(k, 0, None)] + 1e-9) if len(starts) else np.zeros(len(times), bool)
    shots = np.where(inside, ordered["shot_id"].to_numpy()[np.clip(k, 0, None)] if len(starts) else -1, -1)
    scenes = np.where(inside, ordered["scene_id"].to_numpy()[np.clip(k, 0, None)] if len(starts) else -1, -1)
    return shots.astype(int), scenes.astype(int)


def slice_rows(inputs: TimelineInputs, grid: Grid) -> pd.DataFrame:
    s, n = grid.slice_seconds, len(grid.beat)
    starts = np.arange(n) * s
    shots, scenes = shot_at(inputs.structure, starts + s / 2)
    return pd.DataFrame({
        "film": inputs.film, "slice": np.arange(n), "start": np.round(starts, 3),
        "end": np.round(np.minimum(starts + s, max(inputs.duration, s)), 3), "shot_id": shots, "scene_id": scenes,
        "on_screen": [_jsonl(x) for x in grid.on_screen], "speaker": grid.speaker, "voice": grid.voice,
        "effects": [_jsonl(x) for x in grid.effects], "actions": [_jsonl(x) for x in grid.actions],
        "beat": grid.beat, "loudness_db": [to_db(p) for p in grid.loudness],
        "vocals_db": [to_db(p) for p in grid.vocals]}, columns=SLICE_COLUMNS)


def build_timeline(inputs: TimelineInputs, slice_seconds: float = 0.1) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The shot table and the slice table of one film."""
    grid = paint(inputs, slice_seconds)
    return shot_rows(inputs, grid), slice_rows(inputs, grid)


def context_line(row) -> str:
    """A timeline row (shot or slice) as one sentence for a dataset: where, who is on screen, who speaks, what."""
    def names(text: str) -> str:
        return ", ".join(json.loads(text)) or "nobody"

    parts = [f"shot {row['shot_id']}, scene {row['scene_id']}"]
    if "scale" in row:
        parts.append(f"{row['scale']}, camera {row['camera']}")
    parts.append(f"on screen: {names(row['on_screen'])}")
    speaking = json.loads(row["speakers"]) if "speakers" in row else ([row["speaker"]] if _named(row["speaker"]) else [])
    parts.append(f"speaking: {', '.join(speaking) or 'nobody'}")
    for key in ("actions", "effects"):
        found = json.loads(row[key])
        if found:
            parts.append(f"{key}: {', '.join(found)}")
    return "; ".join(parts)


def summary(shots: pd.DataFrame, slices: pd.DataFrame, inputs: TimelineInputs) -> dict:
    """Counts for the asset's metadata: time on screen and speaking time per character (from the slices)."""
    s = float(slices["end"].iloc[0] - slices["start"].iloc[0]) if len(slices) else 0.0
    screen: dict[str, float] = {}
    for text in slices["on_screen"]:
        for name in json.loads(text):
            screen[name] = screen.get(name, 0.0) + s
    talk = slices["speaker"].dropna().value_counts() * s
    return {"shots": len(shots), "slices": len(slices), "slice_seconds": round(s, 3),
            "characters": sorted(inputs.characters),
            "on_screen_seconds": {k: round(v, 1) for k, v in sorted(screen.items())},
            "speaking_seconds": {k: round(float(v), 1) for k, v in sorted(talk.items())},
            "shots_with_speech": int((shots["speech_seconds"] > 0).sum()) if len(shots) else 0,
            "beats": int(slices["beat"].sum()) if len(slices) else 0,
            "empty_parts": dict(sorted(inputs.why.items()))}


def _runs(mask: np.ndarray, s: float) -> list[tuple[float, float]]:
    """Runs of True slices as (start, width) bars."""
    edges = np.diff(np.concatenate([[0], mask.astype(int), [0]]))
    return [(a * s, (b - a) * s) for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1))]


def timeline_figure(shots: pd.DataFrame, slices: pd.DataFrame, duration: float) -> bytes:
    """Characters as lanes (light: on screen, dark: speaking), shots and scenes as bands above, beats as ticks."""
    from animproc.image.plots import _pyplot
    from animproc.image.preview import figure_png

    plt = _pyplot()
    s = float(slices["end"].iloc[0] - slices["start"].iloc[0]) if len(slices) else 0.1
    names = sorted({n for text in slices["on_screen"] for n in json.loads(text)} | set(slices["speaker"].dropna()))
    fig, ax = plt.subplots(figsize=(9, 1.4 + 0.35 * len(names)))
    for r in shots.itertuples():
        ax.barh(-2, r.end_time - r.start_time, left=r.start_time, height=0.8, color=f"C{int(r.shot_id) % 2 + 7}")
        ax.barh(-1, r.end_time - r.start_time, left=r.start_time, height=0.8, color=f"C{int(r.scene_id) % 10}")
    screen = [set(json.loads(t)) for t in slices["on_screen"]]
    for k, name in enumerate(names):
        ax.broken_barh(_runs(np.array([name in x for x in screen]), s), (k - 0.3, 0.6), color="lightsteelblue")
        ax.broken_barh(_runs((slices["speaker"] == name).to_numpy(), s), (k - 0.15, 0.3), color="navy")
    beats = slices.loc[slices["beat"], "start"]
    ax.vlines(beats, -2.5, len(names) - 0.5, colors="grey", linewidth=0.3, alpha=0.5)
    ax.set_yticks(range(-2, len(names)), ["shots", "scenes", *names], fontsize=7)
    ax.set_xlim(0, max(duration, s))
    ax.invert_yaxis()
    ax.set_xlabel("seconds (light: on screen, dark: speaking, grey ticks: beats)", fontsize=7)
    fig.tight_layout()
    return figure_png(fig)


NO_AUDIO = "the film has no audio stream"


def _faces_of_characters(products, width: int, height: int) -> pd.DataFrame | None:
    """Every face of a named character: its time, shot and box as picture fractions."""
    if not (products.has("characters") and products.has("identity_clusters", "faces")):
        return None
    index = products.table("characters")
    names = index[index["kind"] == "face"].set_index("id")["character"]
    faces = products.table("identity_clusters", "faces")
    faces = faces[faces["face_id"].isin(names.index)]
    scale = np.array([width, height, width, height], float)
    return pd.DataFrame({"character": names.loc[faces["face_id"]].to_numpy(), "time": faces["time"].to_numpy(float),
                         "shot_id": faces["shot_id"].to_numpy(int),
                         "box": list(faces[["x0", "y0", "x1", "y1"]].to_numpy(float) / scale)})


def _speech(products, why: dict) -> pd.DataFrame:
    """Speech turns with their character, from character_voices (which holds every diarized turn, mapped to a
    character or not). Without it, the timeline has no speech and says so."""
    if products.has("character_voices", "turns"):
        turns = products.table("character_voices", "turns")
        return turns[["start", "end", "speaker", "character"]]
    why["speakers"] = "character_voices is not materialised: no speech on the timeline"
    return pd.DataFrame({"start": pd.Series(dtype=float), "end": pd.Series(dtype=float),
                         "speaker": pd.Series(dtype=object), "character": pd.Series(dtype=object)})


def timeline_inputs(products, slice_seconds: float, progress: Progress = NO_PROGRESS) -> TimelineInputs:
    """Read every product the timeline joins (through the catalogue, so each is a declared input). `progress`
    hears of the seconds of audio measured."""
    probe = products.json("source_video", "probe")
    structure = products.table("shot_structure")
    duration = float(probe.get("duration_s") or (structure["end_time"].max() if len(structure) else 0.0))
    why: dict[str, str] = {}
    faces = _faces_of_characters(products, int(probe.get("width") or 1), int(probe.get("height") or 1))
    if faces is None:
        why["characters"] = "no identity review yet (characters not materialised): nobody is named on screen"
    elif faces.empty:
        why["characters"] = "the film has no faces of named characters"
    characters = set(products.table("characters")["character"]) if faces is not None else set()
    beats = products.table("av_sync", "beats")["t"].to_numpy(float) if products.has("av_sync", "beats") else None
    if beats is None:
        why["beats"] = "av_sync is not materialised: no music beats"
    loudness = vocals = None
    if products.json("audio", "info").get("has_audio"):
        with products.storage.local_copy(products.file("audio", "analysis")) as wav:
            loudness = slice_power(wav, slice_seconds, duration, progress=progress)
        stem = products.file("vocals", "vocals")
        if stem.exists():
            with products.storage.local_copy(stem) as flac:
                vocals = slice_power(flac, slice_seconds, duration, progress=progress, name="vocals loudness")
    else:
        why["audio"] = NO_AUDIO
    return TimelineInputs(products.film, duration, structure, faces, products.table("motion", "tracks"),
                          _speech(products, why), products.table("effects_catalog", "effects"),
                          products.table("motion", "actions"), beats, loudness, vocals, characters, why)
