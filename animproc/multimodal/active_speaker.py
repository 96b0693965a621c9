"""Who speaks on screen: a speaking score for every face track at every step (0.1 s), and per speech turn the
track that speaks it, or `off_screen` when no face on screen does.

One streaming decode pass (threaded): a frame is converted only where a step reads it, at most WORK_SIDE pixels
on the long side. The face resource's detector runs every DETECT_EVERY steps in a shot with faces (every
LOOK_EVERY in one without), each face is followed from step to step between (and across a missed
detection), the faces are linked into tracks within the shot (Hungarian on box overlap), and the
active-speaker model reads what it needs from each face and the frame before it at every step; a shot's tracks
are scored when the shot ends and then dropped, so no film's frames or face crops pile up. The audio side
(loudness of the vocals stem, the share of each step inside a diarized turn, MFCCs for models that hear) is
read block by block into per-step arrays.

The embedded model's score: the mouth's activity (how much its opening varies, from the face mesh, or how
much the lower face changes once the head's and the camera's motion are undone, whichever is larger),
averaged over half a second, raised by its correlation with the loudness envelope at the best lag within
+-0.2 s, and zero outside speech."""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from scipy.ndimage import uniform_filter1d
from scipy.optimize import linear_sum_assignment

from animproc.image.boxes import box_iou
from animproc.multimodal.mouth import FaceMesh, mesh_model_path, mouth_features
from animproc.progress import NO_PROGRESS, Progress
from animproc.temporal.tracks import path_boxes

STEP = 0.1
MAX_LAG = 2  # steps: the voice may lead or trail the mouth by up to 0.2 s
MFCC_PER_STEP, N_MFCC = 10, 13
MIN_FACE_PX = 12  # smaller faces show no mouth to read
SPEAKING_FLOOR = 0.2  # a turn whose best track scores below this is spoken off screen
MIN_COVERAGE = 0.3  # a track must be on screen for this share of a turn to be its speaker
OPENING_REF, ENERGY_REF = 0.01, 2.0  # mouth activity 1.0: opening spread 1 % of the face height / lower-face change
MESH_PRESENCE = 0.1
WORK_SIDE = 1024  # frames are read at most this many pixels on the long side (the face detector's own size)
DETECT_EVERY, LOOK_EVERY = 3, 5  # steps between detections in a shot with faces / in one without any yet
CARRY_STEPS = 4  # a face is followed at most this many steps past its last detection
MIN_MATCH = 0.6  # the normalised correlation a followed face keeps with its last look
SCORE_COLUMNS = ["track_id", "t", "score"]
TURN_COLUMNS = ["turn_id", "start", "end", "speaker", "best_track", "character", "score", "margin", "off_screen"]


@dataclass
class StepAudio:
    """The audio at each step: loudness 0-1 (of the film's loud speech), the share of the step inside a
    diarized speech turn, and MFCCs [T, 10, 13] at 100 frames a second for models that hear."""

    loudness: np.ndarray
    speech: np.ndarray
    mfcc: np.ndarray

    def __len__(self) -> int:
        return len(self.loudness)

    def at(self, steps: np.ndarray) -> StepAudio:
        steps = np.clip(steps, 0, len(self) - 1)
        return StepAudio(self.loudness[steps], self.speech[steps], self.mfcc[steps])


def speech_share(segments: pd.DataFrame, n_steps: int, step: float = STEP) -> np.ndarray:
    """The share of each step [k*step, (k+1)*step) covered by a diarized turn."""
    share = np.zeros(n_steps, np.float32)
    starts = np.arange(n_steps) * step
    for start, end in zip(segments["start"], segments["end"]):
        share = np.maximum(share, np.clip((np.minimum(starts + step, end) - np.maximum(starts, start)) / step, 0, 1))
    return np.round(share, 4).astype(np.float32)


def silent_audio(n_steps: int) -> StepAudio:
    return StepAudio(np.zeros(n_steps, np.float32), np.zeros(n_steps, np.float32),
                     np.zeros((n_steps, MFCC_PER_STEP, N_MFCC), np.float32))


def audio_steps(path: str | Path, n_steps: int, segments: pd.DataFrame, step: float = STEP) -> StepAudio:
    """Per-step loudness and MFCCs of an audio file read a few seconds at a time (downmixed to mono)."""
    import librosa
    import soundfile as sf

    rms = np.zeros(n_steps, np.float32)
    mfcc = np.zeros((n_steps, MFCC_PER_STEP, N_MFCC), np.float32)
    with sf.SoundFile(str(path)) as f:
        rate = f.samplerate
        per_step = int(round(rate * step))
        hop = per_step // MFCC_PER_STEP
        block_steps = 100
        for first in range(0, n_steps, block_steps):
            f.seek(min(first * per_step, f.frames))
            block = f.read(block_steps * per_step, dtype="float32", always_2d=True).mean(axis=1)
            count = min(block_steps, n_steps - first, len(block) // per_step)
            if count <= 0:
                break
            frames = block[:count * per_step].reshape(count, per_step)
            rms[first:first + count] = np.sqrt((frames ** 2).mean(axis=1))
            coeffs = librosa.feature.mfcc(y=block[:count * per_step], sr=rate, n_mfcc=N_MFCC, hop_length=hop,
                                          n_fft=int(2 ** np.ceil(np.log2(0.025 * rate))), center=False)
            usable = min(coeffs.shape[1], count * MFCC_PER_STEP)
            padded = np.zeros((N_MFCC, count * MFCC_PER_STEP), np.float32)
            padded[:, :usable] = coeffs[:, :usable]
            mfcc[first:first + count] = padded.T.reshape(count, MFCC_PER_STEP, N_MFCC)
    speech = speech_share(segments, n_steps, step)
    voiced = rms[speech > 0.5] if (speech > 0.5).any() else rms
    ref = float(np.percentile(voiced, 95)) if len(voiced) else 0.0
    loudness = np.clip(rms / ref, 0, 1) if ref > 0 else np.zeros_like(rms)
    return StepAudio(loudness.astype(np.float32), speech, mfcc)


def lagged_correlation(x: np.ndarray, y: np.ndarray, half_window: int, max_lag: int = MAX_LAG) -> np.ndarray:
    """Per step, the largest Pearson correlation of x with y shifted by up to `max_lag` steps either way,
    over a window of 2 * half_window + 1 steps (0 where either is flat)."""
    size = 2 * half_window + 1
    best = np.full(len(x), -1.0)
    for lag in range(-max_lag, max_lag + 1):
        shifted = np.roll(y, -lag)
        if lag > 0:
            shifted[-lag:] = y[-1]
        elif lag < 0:
            shifted[:-lag] = y[0]
        mx, my = uniform_filter1d(x, size, mode="nearest"), uniform_filter1d(shifted, size, mode="nearest")
        cov = uniform_filter1d(x * shifted, size, mode="nearest") - mx * my
        vx = uniform_filter1d(x * x, size, mode="nearest") - mx * mx
        vy = uniform_filter1d(shifted * shifted, size, mode="nearest") - my * my
        with np.errstate(invalid="ignore", divide="ignore"):
            r = np.where((vx > 1e-4) & (vy > 1e-4), cov / np.sqrt(vx * vy), 0.0)
        best = np.maximum(best, r)
    return np.clip(best, -1, 1)


def mouth_activity(visual: np.ndarray) -> np.ndarray:
    """How much the mouth moves per step, 0 (still, open or shut) to about 1.5: the larger of two readings
    that fail in different places. The spread of the face mesh's opening over the surrounding half second,
    where the mesh fits the face for most of the track (its presence score runs low on dark or bearded faces
    whose mouths it still follows, so the bar is low); on a small face that moves (a walk in a pan) its lips
    stay a prior. And the lower face's change against the upper face's once the head's and the camera's
    motion are undone (`mouth.region_energy`), above the track's own still level. Both read change, not
    how far the mouth is open: speech opens and closes it, a mouth held open is not speaking."""
    opening, presence, lower, upper = visual[:, 0], visual[:, 1], visual[:, 2], visual[:, 3]
    signal = np.maximum(lower - upper, 0.0)
    energy = np.clip((signal - np.percentile(signal, 10)) / ENERGY_REF, 0, 1.5)
    fitted = (presence >= MESH_PRESENCE) & np.isfinite(opening)
    if fitted.mean() < 0.5:
        return energy
    steps = np.arange(len(opening))
    series = np.interp(steps, steps[fitted], opening[fitted])
    mean = uniform_filter1d(series, 5, mode="nearest")
    spread = np.sqrt(np.maximum(uniform_filter1d(series * series, 5, mode="nearest") - mean * mean, 0))
    return np.maximum(np.clip(spread / OPENING_REF, 0, 1.5), energy)


class EmbeddedActiveSpeaker:
    """Mouth opening from MediaPipe's face mesh (lower-face motion energy where it fits no face), correlated
    with the voice's loudness. Offline, CPU, weights shipped with the mediapipe wheel."""

    name = "embedded-facemesh"

    def __init__(self, mesh_path: Path | None = None):
        path = mesh_path or mesh_model_path()
        self.mesh = FaceMesh(path) if path else None
        if self.mesh is None:
            self.name = "embedded-lower-face-energy"

    def visual(self, frame_bgr, previous_bgr, box) -> np.ndarray:
        return mouth_features(self.mesh, frame_bgr, previous_bgr, box)

    def scores(self, visual: np.ndarray, audio: StepAudio) -> np.ndarray:
        activity = mouth_activity(visual)
        held = uniform_filter1d(activity, 5, mode="nearest")
        r = lagged_correlation(activity, audio.loudness.astype(np.float64), half_window=10)
        return np.clip(held * (0.6 + 0.6 * np.maximum(r, 0.0)), 0, 1) * np.clip(audio.speech, 0, 1)


@dataclass
class FaceTrack:
    track_id: int
    shot_id: int
    steps: list[int] = field(default_factory=list)
    boxes: list[tuple[float, float, float, float]] = field(default_factory=list)
    rows: list[np.ndarray] = field(default_factory=list)
    frames: list[int] = field(default_factory=list)


class ShotTracker:
    """Links a shot's faces step to step: Hungarian on box overlap with the tracks seen in the last half second."""

    def __init__(self, shot_id: int, next_id: int, min_iou: float = 0.2, patience: int = 5):
        self.shot_id, self.next_id, self.min_iou, self.patience = shot_id, next_id, min_iou, patience
        self.tracks: list[FaceTrack] = []

    def add(self, step: int, frame: int, faces: list[tuple[tuple, np.ndarray]]) -> list[int]:
        """Extends the live tracks with the step's faces (a new track for each face left over); the track id
        each face went to."""
        live = [t for t in self.tracks if step - t.steps[-1] <= self.patience]
        taken: dict[int, int] = {}
        if live and faces:
            iou = np.array([[box_iou(np.array(t.boxes[-1]), np.array(box)) for box, _ in faces] for t in live])
            for i, j in zip(*linear_sum_assignment(-iou)):
                if iou[i, j] >= self.min_iou:
                    self._extend(live[i], step, frame, *faces[j])
                    taken[j] = live[i].track_id
        for j, face in enumerate(faces):
            if j not in taken:
                track = FaceTrack(self.next_id, self.shot_id)
                self.next_id += 1
                self.tracks.append(track)
                self._extend(track, step, frame, *face)
                taken[j] = track.track_id
        return [taken[j] for j in range(len(faces))]

    @staticmethod
    def _extend(track: FaceTrack, step: int, frame: int, box: tuple, row: np.ndarray) -> None:
        track.steps.append(step)
        track.frames.append(frame)
        track.boxes.append(tuple(float(v) for v in box))
        track.rows.append(row)


def shot_of_frame(shots: pd.DataFrame) -> Callable[[int], int | None]:
    starts, ends, ids = (shots[c].to_numpy() for c in ("start_frame", "end_frame", "shot_id"))

    def lookup(frame: int) -> int | None:
        k = int(np.searchsorted(starts, frame, side="right")) - 1
        return int(ids[k]) if k >= 0 and frame <= ends[k] else None
    return lookup


def follow_face(before: np.ndarray, now: np.ndarray, box: tuple[float, float, float, float]) -> tuple | None:
    """Where a face of the grey frame `before` lies in the grey frame `now`: the box shifted to the best
    normalised correlation of its pixels within half a box around it, or None below MIN_MATCH (it turned,
    left or was covered)."""
    h, w = now.shape
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x1 - x0 < 4 or y1 - y0 < 4:
        return None
    rx, ry = (x1 - x0) // 2, (y1 - y0) // 2
    sx0, sy0 = max(x0 - rx, 0), max(y0 - ry, 0)
    search = now[sy0:min(y1 + ry, h), sx0:min(x1 + rx, w)]
    template = before[y0:y1, x0:x1]
    if search.shape[0] < template.shape[0] or search.shape[1] < template.shape[1] or template.std() < 1.0:
        return None
    res = cv2.matchTemplate(search, template, cv2.TM_CCOEFF_NORMED)
    _, best, _, (mx, my) = cv2.minMaxLoc(res)
    if best < MIN_MATCH:
        return None
    dx, dy = sx0 + mx - x0, sy0 + my - y0
    return (box[0] + dx, box[1] + dy, box[2] + dx, box[3] + dy)


def _overlaps(box: tuple, others: list[tuple], min_iou: float = 0.2) -> bool:
    return any(box_iou(np.array(box), np.array(o)) >= min_iou for o in others)


@dataclass
class _ShotScan:
    """A shot's faces between detections: each live track's last box (working pixels) and last detected step."""

    tracker: ShotTracker
    next_detection: int
    boxes: dict[int, tuple] = field(default_factory=dict)
    detected: dict[int, int] = field(default_factory=dict)
    grey: np.ndarray | None = None
    grey_step: int = -1


def _step_faces(scan: _ShotScan, k: int, bgr: np.ndarray, grey: np.ndarray, detector, scale: float) -> list[tuple]:
    """The step's face boxes in working pixels: the detector's when it is due (every DETECT_EVERY steps while
    the shot has faces, every LOOK_EVERY while it has none), each live face followed from the step before
    otherwise, and where the detector missed a face it confirmed within CARRY_STEPS steps."""
    followed = {}
    if scan.grey is not None and scan.grey_step == k - 1:
        for track_id, box in scan.boxes.items():
            if k - scan.detected[track_id] <= CARRY_STEPS:
                moved = follow_face(scan.grey, grey, box)
                if moved is not None:
                    followed[track_id] = moved
    if k < scan.next_detection:
        return [(box, False) for box in followed.values()]
    found = [f.box for f in detector(bgr) if f.height / scale >= MIN_FACE_PX]
    scan.next_detection = k + (DETECT_EVERY if found else LOOK_EVERY)
    missed = [box for box in followed.values() if not _overlaps(box, found)]
    return [(box, True) for box in found] + [(box, False) for box in missed]


def scan_face_tracks(video: str | Path, fps: float, n_steps: int, shots: pd.DataFrame, detector, model,
                     skip_frames: set[int] = frozenset(), step: float = STEP, progress: Progress = NO_PROGRESS):
    """Yields each shot's face tracks when the shot ends, with the model's visual rows, from one decode pass
    (`progress` hears of the seconds of film decoded). Frames are converted only where a step reads them (its
    frame, and the one before where it has faces), at most WORK_SIDE pixels on the long side (the detector's
    own working size); the tracks' boxes are in the source's pixels."""
    from animproc.media import open_media
    from animproc.video.decode import frame_to_bgr

    wanted = {int(round(k * step * fps)): k for k in range(n_steps)}
    last_wanted = max(wanted, default=-1)
    shot_at = shot_of_frame(shots.sort_values("start_frame"))
    scan: _ShotScan | None = None
    next_id, previous = 0, None
    task = progress.task("active_speakers", round(n_steps * step, 1), "s of film")
    with open_media(Path(video)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for index, frame in enumerate(container.decode(stream)):
            task.update(min(index / fps, n_steps * step))
            if index > last_wanted:
                break
            if index not in wanted:
                previous = (index, frame)
                continue
            shot = shot_at(index)
            if scan is not None and scan.tracker.shot_id != shot:
                yield scan.tracker.tracks
                next_id, scan = scan.tracker.next_id, None
            if shot is None or index in skip_frames or previous is None or previous[0] != index - 1:
                previous = (index, frame)
                continue
            k = wanted[index]
            scan = scan or _ShotScan(ShotTracker(shot, next_id), next_detection=k)
            bgr = frame_to_bgr(frame, WORK_SIDE)
            scale = max(bgr.shape[:2]) / max(frame.width, frame.height)
            grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
            faces = _step_faces(scan, k, bgr, grey, detector, scale)
            # At a shot's first frame the frame before shows another shot: no change to read.
            before = None if not faces else bgr if shot_at(index - 1) != shot else frame_to_bgr(previous[1], WORK_SIDE)
            rows = [(tuple(v / scale for v in box), model.visual(bgr, before, box)) for box, _ in faces]
            ids = scan.tracker.add(k, index, rows)
            scan.boxes = {track_id: box for track_id, (box, _) in zip(ids, faces)}
            for track_id, (_, detected) in zip(ids, faces):
                if detected or track_id not in scan.detected:
                    scan.detected[track_id] = k
            scan.grey, scan.grey_step = grey, k
            previous = (index, frame)
    task.finish()
    if scan is not None:
        yield scan.tracker.tracks


def motion_labels(track: FaceTrack, motion_tracks: pd.DataFrame | None, width: int, height: int,
                  reach: int = 12) -> tuple[str | None, str | None]:
    """The character label and motion track id of the `motion` track whose box holds this face most often."""
    if motion_tracks is None or motion_tracks.empty:
        return None, None
    votes: Counter = Counter()
    candidates = motion_tracks[motion_tracks["shot_id"] == track.shot_id]
    paths = [(row.track_id, row.label, path_boxes(row.path)) for row in candidates.itertuples()]
    for frame, (x0, y0, x1, y1) in zip(track.frames, track.boxes):
        cx, cy = (x0 + x1) / 2 / width, (y0 + y1) / 2 / height
        for track_id, label, boxes in paths:
            near = min(boxes, key=lambda fb: abs(fb[0] - frame), default=None)
            if near is not None and abs(near[0] - frame) <= reach:
                b = near[1]
                if b[0] <= cx <= b[2] and b[1] <= cy <= b[3]:
                    votes[(track_id, label)] += 1
    if not votes:
        return None, None
    (track_id, label), _ = votes.most_common(1)[0]
    return (None if label is None or pd.isna(label) else str(label)), str(track_id)


def track_scores(tracks: list[FaceTrack], audio: StepAudio, model, motion_tracks: pd.DataFrame | None,
                 width: int, height: int, step: float = STEP) -> pd.DataFrame:
    """One row per track and step: the model's score, with the face box, the shot, the character the motion
    track names and the mouth activity (for the audio-video offset)."""
    frames = []
    for track in tracks:
        steps = np.array(track.steps)
        visual = np.stack(track.rows)
        heard = audio.at(steps)
        score = np.clip(np.asarray(model.scores(visual, heard), np.float64).reshape(-1), 0, 1)
        mouth = mouth_activity(visual) if visual.shape[1] == 4 else np.full(len(steps), np.nan)
        character, motion_track = motion_labels(track, motion_tracks, width, height)
        boxes = np.array(track.boxes)
        frames.append(pd.DataFrame({
            "track_id": track.track_id, "t": np.round(steps * step, 3), "score": np.round(score, 4),
            "shot_id": track.shot_id, "character": character, "motion_track": motion_track,
            "x0": boxes[:, 0], "y0": boxes[:, 1], "x1": boxes[:, 2], "y1": boxes[:, 3],
            "mouth": np.round(mouth, 4), "loudness": np.round(heard.loudness, 4)}))
    return pd.concat(frames, ignore_index=True) if frames else empty_scores()


def empty_scores() -> pd.DataFrame:
    return pd.DataFrame({"track_id": pd.Series(dtype="int64"), "t": pd.Series(dtype="float64"),
                         "score": pd.Series(dtype="float64"), "shot_id": pd.Series(dtype="int64"),
                         "character": pd.Series(dtype="object"), "motion_track": pd.Series(dtype="object"),
                         **{c: pd.Series(dtype="float64") for c in ("x0", "y0", "x1", "y1", "mouth", "loudness")}})


def speech_turns(segments: pd.DataFrame, scores: pd.DataFrame, step: float = STEP) -> pd.DataFrame:
    """Per diarized turn: the track with the highest mean score over the turn's steps (among tracks on
    screen for at least `MIN_COVERAGE` of it), its score, its margin over the next, and `off_screen` when
    none reaches `SPEAKING_FLOOR`."""
    rows = []
    for turn_id, seg in enumerate(segments.sort_values("start").itertuples()):
        first, last = int(np.floor(seg.start / step + 1e-6)), int(np.ceil(seg.end / step - 1e-6))
        span = max(last - first, 1)
        inside = scores[(scores["t"] >= first * step - 1e-6) & (scores["t"] < last * step - 1e-6)]
        means = [(float(g["score"].mean()), int(tid), g["character"].iloc[0]) for tid, g in inside.groupby("track_id")
                 if len(g) >= MIN_COVERAGE * span]
        means.sort(key=lambda m: -m[0])
        best = means[0] if means else (0.0, None, None)
        margin = best[0] - (means[1][0] if len(means) > 1 else 0.0)
        off = best[0] < SPEAKING_FLOOR
        rows.append({"turn_id": turn_id, "start": float(seg.start), "end": float(seg.end), "speaker": str(seg.speaker),
                     "best_track": None if off else best[1], "character": None if off else best[2],
                     "score": round(best[0], 4), "margin": round(margin, 4), "off_screen": off})
    table = pd.DataFrame(rows, columns=TURN_COLUMNS)
    return table.astype({"turn_id": "int64", "start": "float64", "end": "float64", "speaker": "object",
                         "best_track": "Int64", "character": "object", "score": "float64", "margin": "float64",
                         "off_screen": "bool"})


def find_active_speakers(video: str | Path, fps: float, width: int, height: int,
                         shots: pd.DataFrame, segments: pd.DataFrame, audio: StepAudio, detector, model,
                         motion_tracks: pd.DataFrame | None = None, skip_frames: set[int] = frozenset(),
                         step: float = STEP, progress: Progress = NO_PROGRESS) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The `scores` and `turns` tables of a film (see the module's docstring)."""
    n_steps = len(audio)
    parts = [track_scores(tracks, audio, model, motion_tracks, width, height, step)
             for tracks in scan_face_tracks(video, fps, n_steps, shots, detector, model, skip_frames, step,
                                             progress)]
    parts = [p for p in parts if len(p)]
    scores = pd.concat(parts, ignore_index=True) if parts else empty_scores()
    return scores, speech_turns(segments, scores, step)


def n_steps_of(duration: float, step: float = STEP) -> int:
    return max(int(np.floor(duration / step + 1e-6)), 0)
