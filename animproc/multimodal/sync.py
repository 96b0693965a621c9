"""How sound lines up with the picture: music beats (librosa's beat tracker on the accompaniment stem's onset
envelope, computed block by block so a film's audio never sits in memory) against cuts, with the share of
cuts within 0.1 s of a beat beside the share a cut placed at random would get; sound-effect onsets (onsets
of the accompaniment that are not beats) against visual events (effects_catalog entries, flashes among
them, the starts of sudden actions, and flow spikes: frames whose motion stands out of their shot's); and
the film's audio-video offset, the lag of the voice's loudness behind the speaking mouths that maximises
their correlation."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from animproc.progress import NO_PROGRESS, Progress
from animproc.robust import scaled_mad

ON_BEAT = 0.1  # seconds
EVENT_REACH = 0.5  # a visual event and a sound onset further apart than this are not matched
MAX_OFFSET_STEPS = 5  # the audio-video offset searched within +-0.5 s at the 0.1 s steps
SUDDEN_ACTIONS = ("jumping", "falling", "fighting", "running")
SPIKE_MADS = 4.0  # a spike stands this many robust deviations above its shot's median flow
SPIKE_RATIO = 2.0  # ... is at least this many times that median (a steady fast pan has a tight spread)
SPIKE_MIN_RISE = 0.01  # ... and by this much (frame widths per second): well above still shots' flow noise
SPIKE_MIN_FRAMES = 5  # fewer flow frames in a shot give no robust level to stand above
HOP, RATE = 512, 22050


def onset_envelope(path: str | Path, block_seconds: float = 30.0, progress: Progress = NO_PROGRESS) -> np.ndarray:
    """librosa's onset strength of a (mono-mixed) audio file at RATE / HOP frames a second, block by block.
    `progress` hears of the seconds of audio done."""
    import librosa
    import soundfile as sf

    parts = []
    with sf.SoundFile(str(path)) as f:
        block = int(block_seconds * f.samplerate)
        task = progress.task("onsets", f.frames / f.samplerate, "s of audio")
        for data in f.blocks(blocksize=block, dtype="float32", always_2d=True):
            mono = librosa.resample(data.mean(axis=1), orig_sr=f.samplerate, target_sr=RATE)
            env = librosa.onset.onset_strength(y=mono, sr=RATE, hop_length=HOP, center=False)
            parts.append(env[:len(mono) // HOP])
            task.advance(len(data) / f.samplerate)
        task.finish()
    return np.concatenate(parts) if parts else np.zeros(0)


def mean_tempogram(envelope: np.ndarray, block_frames: int = 2584) -> np.ndarray:
    """The film's tempogram averaged over time (what librosa's global tempo estimate reads), summed a minute
    of frames at a time: the beat tracker's own tempogram of a whole envelope holds ~40 MB per minute of film."""
    import librosa

    win = int(librosa.time_to_frames(8.0, sr=RATE, hop_length=HOP))  # librosa's default autocorrelation window
    total, frames = np.zeros(win), 0
    for start in range(0, len(envelope), block_frames):
        tg = librosa.feature.tempogram(onset_envelope=envelope[start:start + block_frames], sr=RATE,
                                       hop_length=HOP, win_length=win)
        total += tg.sum(axis=1)
        frames += tg.shape[1]
    return (total / max(frames, 1))[:, None]


def beats_and_onsets(envelope: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Beat times and onset times (seconds) from an onset envelope."""
    import librosa

    if len(envelope) < 8 or not np.any(envelope > 0):
        return np.zeros(0), np.zeros(0)
    bpm = librosa.feature.tempo(tg=mean_tempogram(envelope), sr=RATE, hop_length=HOP)
    _, beats = librosa.beat.beat_track(onset_envelope=envelope, sr=RATE, hop_length=HOP, bpm=bpm)
    onsets = librosa.onset.onset_detect(onset_envelope=envelope, sr=RATE, hop_length=HOP)
    return (librosa.frames_to_time(beats, sr=RATE, hop_length=HOP),
            librosa.frames_to_time(onsets, sr=RATE, hop_length=HOP))


def nearest_offsets(times: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """For each time, the signed distance to the nearest anchor (time - anchor); NaN without anchors."""
    if not len(anchors):
        return np.full(len(times), np.nan)
    anchors = np.sort(anchors)
    k = np.clip(np.searchsorted(anchors, times), 1, len(anchors)) if len(anchors) > 1 else np.zeros(len(times), int)
    left = anchors[np.maximum(k - 1, 0)]
    right = anchors[np.minimum(k, len(anchors) - 1)]
    return np.where(np.abs(times - left) <= np.abs(times - right), times - left, times - right)


def chance_share(beats: np.ndarray, duration: float, tolerance: float = ON_BEAT) -> float:
    """The share of the film within `tolerance` of a beat: how often a cut placed at random is on a beat."""
    if duration <= 0 or not len(beats):
        return 0.0
    spans = np.sort(np.stack([np.clip(beats - tolerance, 0, duration), np.clip(beats + tolerance, 0, duration)], 1), 0)
    covered, end = 0.0, 0.0
    for a, b in spans:
        a = max(a, end)
        if b > a:
            covered, end = covered + b - a, b
    return covered / duration


def cut_table(shots: pd.DataFrame, beats: np.ndarray) -> pd.DataFrame:
    """Every cut (each shot's start but the first): its offset from the nearest beat and whether it is on one."""
    cuts = shots.sort_values("start_time").iloc[1:]
    times = cuts["start_time"].to_numpy(float)
    offsets = nearest_offsets(times, beats)
    table = pd.DataFrame({"shot_index": cuts["shot_id"].astype("int64").to_numpy(), "t": times,
                          "nearest_beat_offset": np.round(offsets, 4), "on_beat": np.abs(offsets) <= ON_BEAT})
    return table.astype({"nearest_beat_offset": "float64", "on_beat": "bool"})


SPIKE_COLUMNS = {"t": "float64", "shot_id": "int64", "frame_index": "int64", "magnitude": "float64",
                 "level": "float64"}


def _shot_spikes(m: np.ndarray) -> np.ndarray:
    """Positions in one shot's magnitude series that stand well above the shot's robust level and are local
    maxima (a burst over two pairs gives one spike, at its peak)."""
    if len(m) < SPIKE_MIN_FRAMES:
        return np.zeros(0, int)
    level = float(np.median(m))
    spread = scaled_mad(m, level)
    threshold = level + max(SPIKE_MADS * spread, (SPIKE_RATIO - 1) * level, SPIKE_MIN_RISE)
    before = np.concatenate([[-np.inf], m[:-1]])
    after = np.concatenate([m[1:], [-np.inf]])
    return np.flatnonzero((m > threshold) & (m > before) & (m >= after))


def gradual_transitions(transitions: pd.DataFrame | None) -> list[tuple[int, int]]:
    """(first, last) frames of the fades and dissolves: there the picture's brightness changes or two shots
    mix, which optical flow reads as motion."""
    if transitions is None or not len(transitions):
        return []
    rows = transitions[transitions["kind"] != "cut"]
    return [(int(a), int(b)) for a, b in zip(rows["first"], rows["last"])]


def _in_transition(frames: pd.DataFrame, fps: float, ranges: list[tuple[int, int]]) -> np.ndarray:
    """Which frame pairs come within one pair of a transition (the detected range's edges are a frame or two
    late or early; the brightness starts changing before a fade is found)."""
    end = frames["frame_index"].to_numpy(float)
    pair = np.round(frames["interval"].to_numpy(float) * fps)
    near = np.zeros(len(frames), bool)
    for first, last in ranges:
        near |= (end - pair <= last + pair) & (end >= first - pair)
    return near


def flow_spikes(frames: pd.DataFrame, fps: float, transitions: list[tuple[int, int]] = ()) -> pd.DataFrame:
    """Flow spikes from motion's per-frame flow, shot by shot (a series never runs across a cut): the moment
    (the middle of the frame pair whose flow spiked), shot, frame, magnitude and the shot's level (median).
    Pairs near `transitions` (fades, dissolves: see `gradual_transitions`) are left out before the level is
    taken."""
    rows = []
    if len(transitions) and len(frames):
        frames = frames[~_in_transition(frames, fps, list(transitions))]
    for shot_id, shot in frames.sort_values("frame_index").groupby("shot_id", sort=True):
        m = shot["magnitude"].to_numpy(float)
        level = float(np.median(m)) if len(m) else 0.0
        for k in _shot_spikes(m):
            row = shot.iloc[k]
            rows.append({"t": round(float(row["time"]) - float(row["interval"]) / 2, 4), "shot_id": int(shot_id),
                         "frame_index": int(row["frame_index"]), "magnitude": float(m[k]), "level": round(level, 5)})
    return pd.DataFrame(rows, columns=list(SPIKE_COLUMNS)).astype(SPIKE_COLUMNS)


def visual_events(effects: pd.DataFrame | None, actions: pd.DataFrame | None, fps: float,
                  spikes: pd.DataFrame | None = None) -> pd.DataFrame:
    """Times and kinds of things that happen in the picture: each effect's peak, each sudden action's start,
    each flow spike. The kind names the source: `effect:<type>`, `action:<action>`, `flow_spike`."""
    rows = []
    if effects is not None:
        rows += [(float(e.peak_frame) / fps, f"effect:{e.type}") for e in effects.itertuples()
                 if e.type not in ("fade", "fade_in", "fade_out", "dissolve")]
    if actions is not None:
        rows += [(float(a.start_time), f"action:{a.action}") for a in actions.itertuples() if a.action in SUDDEN_ACTIONS]
    if spikes is not None:
        rows += [(float(t), "flow_spike") for t in spikes["t"]]
    return pd.DataFrame(rows, columns=["t", "kind"]).sort_values("t", ignore_index=True)


def event_table(visual: pd.DataFrame, onsets: np.ndarray, beats: np.ndarray) -> pd.DataFrame:
    """Visual events with the offset of the nearest sound-effect onset (onset - event, null beyond
    EVENT_REACH), then the sound-effect onsets (onsets off the beat) with the offset of the nearest visual event."""
    effects_onsets = onsets[np.abs(nearest_offsets(onsets, beats)) > ON_BEAT] if len(beats) else onsets
    seen = visual["t"].to_numpy(float)
    to_sound = -nearest_offsets(seen, effects_onsets)
    to_picture = -nearest_offsets(effects_onsets, seen)
    rows = [(t, k, o) for t, k, o in zip(seen, visual["kind"], to_sound)]
    rows += [(t, "sound_onset", o) for t, o in zip(effects_onsets, to_picture)]
    table = pd.DataFrame(rows, columns=["t", "kind", "offset"])
    table["offset"] = table["offset"].where(table["offset"].abs() <= EVENT_REACH).round(4)
    return table.astype({"t": "float64", "kind": "object", "offset": "float64"}).sort_values("t", ignore_index=True)


def source_of(kind: str) -> str:
    """The source an event kind came from: effect, action, flow_spike or sound_onset."""
    return kind.split(":", 1)[0]


def event_counts(events: pd.DataFrame) -> dict[str, dict[str, int]]:
    """Per source of event: how many, and how many met an event of the other side (an offset)."""
    if events.empty:
        return {}
    by = events.assign(source=events["kind"].map(source_of)).groupby("source")
    return {str(k): {"events": int(len(g)), "matched": int(g["offset"].notna().sum())} for k, g in by}


def av_offset(scores: pd.DataFrame, turns: pd.DataFrame, step: float = 0.1) -> tuple[float | None, float]:
    """The lag (seconds; positive: the sound comes after the picture) that maximises the correlation of the
    speaking track's mouth activity with the voice's loudness over the turns spoken on screen, and a
    confidence 0-1 (how far that correlation stands above the other lags'). None without such turns."""
    pairs = []
    for t in turns[~turns["off_screen"].astype(bool)].itertuples():
        rows = scores[(scores["track_id"] == t.best_track)].sort_values("t")
        rows = rows[(rows["t"] >= t.start - MAX_OFFSET_STEPS * step) & (rows["t"] <= t.end + MAX_OFFSET_STEPS * step)]
        if len(rows) >= 2 * MAX_OFFSET_STEPS + 4 and rows["mouth"].notna().all():
            pairs.append((rows["mouth"].to_numpy(float), rows["loudness"].to_numpy(float)))
    if not pairs:
        return None, 0.0
    lags = range(-MAX_OFFSET_STEPS, MAX_OFFSET_STEPS + 1)
    r = []
    for lag in lags:
        xs, ys = [], []
        for mouth, loud in pairs:
            n = len(mouth) - abs(lag)
            xs.append(mouth[max(0, -lag):max(0, -lag) + n])
            ys.append(loud[max(0, lag):max(0, lag) + n])
        x, y = np.concatenate(xs), np.concatenate(ys)
        r.append(float(np.corrcoef(x, y)[0, 1]) if x.std() > 0 and y.std() > 0 else 0.0)
    best = int(np.argmax(r))
    confidence = float(np.clip(r[best] - np.median(r), 0, 1))
    return round(list(lags)[best] * step, 3), round(confidence, 4)


def per_scene_share(cuts: pd.DataFrame, structure: pd.DataFrame | None) -> dict[str, float]:
    """The share of cuts on the beat within each scene (cuts into a shot of that scene)."""
    if structure is None or cuts.empty:
        return {}
    scene = dict(zip(structure["shot_id"], structure["scene_id"]))
    by_scene = cuts.assign(scene=cuts["shot_index"].map(scene)).dropna(subset=["scene"])
    return {str(int(s)): round(float(g["on_beat"].mean()), 4) for s, g in by_scene.groupby("scene")}
