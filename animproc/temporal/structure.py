"""Shot structure: one reduced-resolution decode pass gives each shot its camera movement (global motion
between frames a few times a second), its colour signature (for grouping shots into scenes) and, from the
largest face on screen, its scale. Pacing statistics and a scene graph follow from the shots."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

import av
import cv2
import numpy as np
import pandas as pd

from animproc.config import TemporalConfig
from animproc.errors import MediaError
from animproc.media import Cadence, analysis_frames, nearest_in, open_media, reduced_bgr, reduced_height
from animproc.models import FaceDetector
from animproc.progress import NO_PROGRESS, Progress
from animproc.temporal.camera import CameraMovement, classify_movement, pair_motion, phase_motion
from animproc.video.shots import in_ranges, shot_position

SCALES = ("extreme_close_up", "close_up", "medium_close_up", "medium", "medium_long", "long", "extreme_long")


@dataclass
class ShotAccumulator:
    shot_id: int
    pairs: list = field(default_factory=list)
    last: tuple[float, np.ndarray] | None = None
    hist: np.ndarray | None = None
    frames: int = 0
    detail: list = field(default_factory=list)
    changes: list = field(default_factory=list)


def shot_scale(face_ratios: list[float], config: TemporalConfig) -> tuple[str, float, dict]:
    """The scale of a shot from the largest face's height / picture height on its sampled frames (median over
    frames with a face); `no_subject` when no frame has one (title cards, black, empty sets)."""
    if not face_ratios:
        return "no_subject", 0.6, {"frames_with_face": 0}
    r = float(np.median(face_ratios))
    bounds = [config.extreme_close_up, config.close_up, config.medium_close_up, config.medium, config.medium_long,
              config.long, 0.0]
    k = next(i for i, b in enumerate(bounds) if r >= b)
    upper = bounds[k - 1] if k else 1.0
    margin = min(abs(r - bounds[k]) / max(bounds[k], 1e-6), abs(upper - r) / max(upper, 1e-6)) if k < 6 else 1.0
    confidence = round(float(np.clip(0.5 + margin, 0.5, 1.0) * min(1.0, 0.5 + 0.1 * len(face_ratios))), 3)
    return SCALES[k], confidence, {"face_height_ratio": round(r, 4), "frames_with_face": len(face_ratios)}


def figure_scale(boxes: list[tuple[float, float]], config: TemporalConfig) -> tuple[str, float, dict]:
    """The scale of a shot from its largest character instance when no face was seen: `boxes` are (top,
    bottom) of the instance's box as shares of the picture height. A whole figure is `medium_long` when it
    fills most of the height, `long` when it is smaller and `extreme_long` when tiny; a figure the frame cuts
    at the bottom is closer, `medium` (without a face its exact closeness is unknown, hence the confidence)."""
    if not boxes:
        return "no_subject", 0.6, {"frames_with_subject": 0}
    top = float(np.median([b[0] for b in boxes]))
    bottom = float(np.median([b[1] for b in boxes]))
    height = bottom - top
    evidence = {"figure_height_ratio": round(height, 4), "cut_by_frame": bottom >= 0.98, "frames_with_subject": len(boxes)}
    if bottom >= 0.98:
        return "medium", 0.4, evidence
    if height >= config.figure_medium_long:
        return "medium_long", 0.5, evidence
    return ("long" if height >= config.figure_long else "extreme_long"), 0.5, evidence


def picture_detail(gray: np.ndarray, step: int = 12) -> float:
    """Share of the pixels more than `step` grey levels from the frame's median: a title card (flat ground,
    thin letters) or black keeps it small, any view of a place (even hazy) does not."""
    return float((np.abs(gray.astype(np.int16) - int(np.median(gray))) > step).mean())


BODY_LEVELS = ((15, 16), (13, 14), (11, 12), (5, 6, 7, 8, 9, 10), (0, 1, 2, 3, 4))  # COCO-17: feet up to the face
POSE_LEVEL_SCALES = ("whole", "medium_long", "medium", "medium_close_up", "close_up")


def pose_frame_scale(coco17: np.ndarray, config: TemporalConfig, min_visibility: float = 0.5,
                     cut_by_frame: bool = False) -> tuple[str, float] | None:
    """The scale one pose implies by where the frame cuts the body (the cinematographer's definition: the
    lowest body part in the picture): ankles in view, a whole figure, banded by its height like
    `figure_scale`; knees, medium long; hips, medium; shoulders or arms, medium close-up; the face only,
    close-up. `coco17`: x, y as shares of the picture, visibility. Returns (scale, figure height share) or None
    when no keypoint is in view. With `cut_by_frame`, a figure is only read as cut when the parts below its
    lowest seen one are placed outside the picture: parts placed inside it but barely visible are occluded or
    missed, not cut off, and such a pose gives None."""
    p = np.asarray(coco17, np.float64)
    inside = (p[:, 0] >= 0) & (p[:, 0] <= 1) & (p[:, 1] >= 0) & (p[:, 1] <= 1)
    seen = (p[:, 2] >= min_visibility) & inside
    level = next((k for k, parts in enumerate(BODY_LEVELS) if seen[list(parts)].any()), None)
    if level is None:
        return None
    if cut_by_frame and level and inside[[i for parts in BODY_LEVELS[:level] for i in parts]].any():
        return None
    top = float(p[seen, 1].min())
    height = float(p[seen, 1].max()) - top
    if level:
        return POSE_LEVEL_SCALES[level], height
    height *= 1.12  # the crown is above the eyes, the soles below the ankles
    if height >= config.figure_medium_long:
        return "medium_long", height
    return ("long" if height >= config.figure_long else "extreme_long"), height


def pose_scale(poses: list[np.ndarray], config: TemporalConfig, cut_by_frame: bool = False
               ) -> tuple[str, float, dict] | None:
    """A faceless shot's scale from its tracked figures' poses: on each posed frame the closest figure's scale,
    over the shot the median of those (in the order of SCALES). None without a pose in view. `cut_by_frame`:
    see `pose_frame_scale`."""
    by_frame: dict[int, list[int]] = {}
    heights = []
    for frame, coco in poses:
        found = pose_frame_scale(coco, config, cut_by_frame=cut_by_frame)
        if found:
            by_frame.setdefault(frame, []).append(SCALES.index(found[0]))
            heights.append(found[1])
    if not by_frame:
        return None
    closest = sorted(min(v) for v in by_frame.values())
    scale = SCALES[closest[(len(closest) - 1) // 2]]
    agree = sum(SCALES[c] == scale for c in closest) / len(closest)
    return scale, round(0.4 + 0.3 * agree, 3), {"frames_with_pose": len(closest), "agreement": round(agree, 3),
                                               "figure_height_ratio": round(float(np.median(heights)), 4)}


def closer_figure(by_face: tuple[str, float, dict], by_pose: tuple[str, float, dict] | None
                  ) -> tuple[str, float, dict]:
    """A shot's scale is its closest subject's, and the largest face found need not be that subject's: a
    figure seen from behind or in profile shows no face, so a small face in the back would decide. Where a
    tracked figure's pose is cut by the frame closer than the face implies, the pose's scale wins. A pose that
    shows only a face says nothing the face detector does not measure better, so it never overrides one."""
    if by_pose is None or by_pose[0] == "close_up" or SCALES.index(by_pose[0]) >= SCALES.index(by_face[0]):
        return by_face
    return by_pose[0], by_pose[1], {**by_pose[2], "from": "pose", "face_scale": by_face[0],
                                    "face_height_ratio": by_face[2].get("face_height_ratio")}


def hist_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Histogram intersection of two colour signatures, each normalised to sum 1."""
    return float(np.minimum(a / max(float(a.sum()), 1e-9), b / max(float(b.sum()), 1e-9)).sum())


def faces_from_elsewhere(looks: list[tuple], similarity: float) -> tuple[int, int] | None:
    """Whether the shot's only face belongs to another picture: seen on one look at the shot's first or last end
    while at least two looks after (before) it find none, and that look's colours differ from theirs as much
    as two scenes' do (`similarity`: the scene threshold). A transition the detector missed (a dissolve through
    haze, a cut inside fast action) shows the next or last shot's face there; a face the shot's own subject
    turns to show keeps the shot's colours. Returns the (first, last) frame of the faceless looks then, else
    None. `looks`: (frame index, largest face's ratio, colour histogram) per look, in order."""
    if len(looks) < 3 or sum(r > 0 for _, r, _ in looks) != 1:
        return None
    k = next(i for i, (_, r, _) in enumerate(looks) if r > 0)
    if k not in (0, len(looks) - 1):
        return None
    rest = [look for i, look in enumerate(looks) if i != k]
    if hist_similarity(looks[k][2], np.sum([h for _, _, h in rest], axis=0)) >= similarity:
        return None
    return int(rest[0][0]), int(rest[-1][0])


def person_scale(looks: list, config: TemporalConfig) -> tuple[str, float, dict] | None:
    """A shot with no face, track or pose of its own, from what its faceless looks found (`SubjectLook`s, see
    animproc.temporal.subject_mask): where a pose is confirmed on the person mask's box on at least
    `person_pose_share` of the looks (two at least), a person is there, scaled by where the frame cuts it
    (`pose_scale`). None otherwise: a view's foreground (a tower, dunes, a river) can take a person's shape
    on a look, but the pose model seldom finds a body in it on most looks. The mask's area alone is no scale:
    views reach 0.63 of the picture (the trailer's dunes), a hand at the lens 0.54."""
    posed = [(k, look.pose) for k, look in enumerate(looks) if look.pose is not None]
    if len(posed) < max(2, config.person_pose_share * len(looks)):
        return None
    by_pose = pose_scale(posed, config)
    if by_pose is None:
        return None
    return by_pose[0], round(by_pose[1] * 0.8, 3), {
        **by_pose[2], "person_mask_area": round(max(look.extent.area for look in looks), 4), "looks": len(looks),
        "posed_looks": len(posed)}


def hand_scale(looks: list, config: TemporalConfig) -> tuple[str, float, dict] | None:
    """A shot with no face, track or pose, from the hands its faceless looks show (`SubjectLook.hands`): where
    a palm confirmed by the hand landmark model (presence >= `hand_presence`) is seen on at least
    `person_pose_share` of the looks (two at least), and the median of those looks' longest hands is as long
    as a close framing's face is tall (`medium_close_up` and up: a hand, wrist to fingertip, is about a face's
    height), the shot is scaled as that face would scale it (`shot_scale`): a hand filling the picture is a
    close subject whatever the film. Smaller hands say nothing: a creature's head reads as a small hand to the
    palm detector (a llama's and a bird's at 0.08 to 0.16 of the picture height, README, issue 18), and one
    look is not enough either. None otherwise."""
    lengths = [max(h.length for h in hands) for hands in
               ([h for h in look.hands if h.presence >= config.hand_presence] for look in looks)
               if hands]
    if not lengths or len(lengths) < max(2, config.person_pose_share * len(looks)):
        return None
    if float(np.median(lengths)) < config.medium_close_up:
        return None
    scale, confidence, evidence = shot_scale(lengths, config)
    return scale, round(confidence * 0.8, 3), {"hand_length_ratio": evidence["face_height_ratio"],
                                               "looks": len(looks), "hand_looks": len(lengths)}


def view_scale(detail: float, config: TemporalConfig) -> tuple[str, float, dict]:
    """A shot with no face and no figure: a card (black, titles: `no_subject`) when its pictures are flat, else
    a view of a place with nobody in it, `extreme_long`."""
    evidence = {"frames_with_subject": 0, "picture_detail": round(detail, 3)}
    if detail < config.card_detail:
        return "no_subject", round(min(1.0, 0.6 + (config.card_detail - detail)), 3), evidence
    return "extreme_long", 0.4, evidence


def _hist(small_bgr: np.ndarray) -> np.ndarray:
    hsv = cv2.cvtColor(small_bgr, cv2.COLOR_BGR2HSV)
    h = cv2.calcHist([hsv], [0, 1, 2], None, [8, 4, 4], [0, 180, 0, 256, 0, 256]).reshape(-1)
    return h / max(float(h.sum()), 1e-9)


def face_cadence(start: int, end: int, every: int, min_looks: int = 1) -> Cadence:
    """Faces looked for every `every` frames of the shot [start, end], offset so that a shot shorter than that
    is looked at once, in its middle; with `min_looks`, a short shot is looked at that many times, evenly
    spread (one look at a blurred action frame often misses the face the next one shows)."""
    length = end - start + 1
    step = max(1, min(every, length // max(1, min_looks)))
    return Cadence(step, start, min(step, length) // 2)


def face_ratios(faces: pd.DataFrame, frame_height: float,
                dissolves: list[tuple[int, int]] | None = None) -> dict[int, list[float]]:
    """Per shot id, from a faces table (frame_index, shot_id, y0, y1 in pixels): the largest face's height /
    picture height on each of its frames, frames inside `dissolves` left out as in the scan."""
    kept = faces[np.array([not in_ranges(dissolves or [], int(f)) for f in faces["frame_index"]], dtype=bool)]
    tallest = (kept["y1"] - kept["y0"]).groupby([kept["shot_id"], kept["frame_index"]]).max() / frame_height
    return {int(shot_id): [float(v) for v in g] for shot_id, g in tallest.groupby(level=0)}


def foreground_mask(boxes: list[np.ndarray] | None, width: int, height: int, keep: float = 0.4) -> np.ndarray | None:
    """255 where corners may be tracked, 0 over the characters' boxes (fractions of the picture); None when
    there are none, or when masking them would leave less than `keep` of the picture (a close-up: the camera
    is then measured on everything)."""
    if not boxes:
        return None
    mask = np.full((height, width), 255, np.uint8)
    for x0, y0, x1, y1 in boxes:
        mask[max(0, int(y0 * height)):int(np.ceil(y1 * height)), max(0, int(x0 * width)):int(np.ceil(x1 * width))] = 0
    return mask if (mask > 0).mean() >= keep else None


def _camera_pair(prev: np.ndarray, gray: np.ndarray, dt: float, boxes: list[np.ndarray] | None, fallback: bool):
    """The camera's motion between two sampled frames, the characters' boxes left out of it. Without the
    fallback: corners outside the boxes unless they cover 60 % of the picture, else corners everywhere. With
    it: the boxes are left out while a tenth of the picture remains (in a close-up the character's own motion
    would read as a tilt or pan), phase correlation over the same region where corners are too few, and only
    then the whole picture."""
    h, w = gray.shape
    mask = foreground_mask(boxes, w, h, keep=0.1 if fallback else 0.4)
    pair = pair_motion(prev, gray, dt, mask)
    if fallback and (pair is None or pair.inliers < 0.5):
        pair = phase_motion(prev, gray, dt, mask) or pair
    if pair is None and mask is not None:  # too little texture outside the characters
        pair = pair_motion(prev, gray, dt)
    return pair


def scan_structure(path, shots: pd.DataFrame, fps: float, config: TemporalConfig,
                   detect_faces: FaceDetector | None = None, face_every_s: float = 2.0,
                   foreground: dict[int, list[np.ndarray]] | None = None,
                   dissolves: list[tuple[int, int]] | None = None, min_face_looks: int = 3,
                   find_subjects: Callable[[np.ndarray], object] | None = None,
                   progress: Progress = NO_PROGRESS) -> dict[int, dict]:
    """Per shot id: camera movement, colour histogram and face-height ratios (`face_looks`: every look's frame
    index, its largest face's ratio (0 where none was found) and its colour histogram), from one decode pass at
    `analysis_width` (faces, when `detect_faces` is given, are looked for every `face_every_s` and at least
    `min_face_looks` times a shot, not inside `dissolves`, where the other shot's faces show through). `foreground`:
    character boxes (x0, y0, x1, y1 as fractions of the picture) by frame index, e.g. from the motion asset's
    tracks; the nearest within a sampling step is left out of the camera's corners. `find_subjects` (e.g.
    `subject_mask.FacelessSubjects`) is run on each face look that finds no face (`subject_looks`). `progress`
    hears of the decoded frames."""
    starts, ids = shots["start_frame"].to_numpy(), shots["shot_id"].to_numpy()
    ends = shots["end_frame"].to_numpy()
    step = max(1, int(round(fps / config.motion_fps)))
    face_step = max(1, int(round(fps * face_every_s)))
    acc: dict[int, ShotAccumulator] = {int(s): ShotAccumulator(int(s)) for s in ids}
    looks: dict[int, list[tuple[int, float, np.ndarray]]] = {int(s): [] for s in ids}
    subjects: dict[int, list] = {int(s): [] for s in ids}
    samples, face_due = Cadence(step), {}
    foreground = foreground or {}
    fg_frames = np.array(sorted(foreground), dtype=np.int64)
    task = progress.task("structure", int(ends.max()) + 1 if len(ends) else None, "frames")
    with open_media(path) as container:
        cc = container.streams.video[0].codec_context
        width = config.analysis_width
        height = reduced_height(cc.width, cc.height, width)
        try:
            for index, frame in analysis_frames(container, fps):
                task.update(index + 1)
                k = shot_position(starts, index)
                face_frame = detect_faces is not None and not in_ranges(dissolves or [], index) and face_due.setdefault(
                    k, face_cadence(starts[k], ends[k], face_step, min_face_looks)).due(index)
                sample = samples.due(index)
                if not sample and not face_frame:
                    continue
                a = acc[int(ids[k])]
                if k and acc[int(ids[k - 1])].last is not None:
                    acc[int(ids[k - 1])].last = None  # that shot is over: keep one small frame at a time
                small = None
                if face_frame:  # faces at 1.5x the analysis width: about 10 px faces (long shots) still show
                    face_width = min(cc.width, 3 * width // 2 // 2 * 2)
                    bgr = reduced_bgr(frame, face_width, reduced_height(cc.width, cc.height, face_width))
                    found = detect_faces(bgr)
                    tallest = max(f.height for f in found) / bgr.shape[0] if found else 0.0
                    looks[a.shot_id].append((index, tallest, _hist(bgr)))
                    if not found and find_subjects is not None:
                        subjects[a.shot_id].append(find_subjects(bgr))
                    if sample:  # the sampled picture from the same conversion
                        small = cv2.resize(bgr, (width, height), interpolation=cv2.INTER_AREA)
                if not sample:
                    continue
                if small is None:
                    small = reduced_bgr(frame, width, height)
                gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
                t = index / fps
                if a.last is not None:
                    boxes = nearest_in(foreground, fg_frames, a.last[2], step)
                    a.pairs.append(_camera_pair(a.last[1], gray, t - a.last[0], boxes, config.camera_fallback))
                    a.changes.append(float(cv2.absdiff(a.last[1], gray).mean()))
                a.detail.append(picture_detail(gray))
                a.last = (t, gray, index)
                h = _hist(small)
                a.hist = h if a.hist is None else a.hist + h
                a.frames += 1
        except av.error.FFmpegError as exc:
            raise MediaError(path, f"decoding failed ({exc})") from None
    task.finish()
    out = {}
    for sid, a in acc.items():
        change = float(np.median(a.changes)) if a.changes and config.camera_fallback else None
        movement: CameraMovement = classify_movement([p for p in a.pairs if p is not None], picture_change=change,
                                                     window_s=config.camera_window_s)
        out[sid] = {"camera": movement, "hist": a.hist / a.frames if a.frames else None,
                    "face_ratios": [r for _, r, _ in looks[sid] if r > 0],
                    "face_looks": looks[sid], "subject_looks": subjects[sid],
                    "detail": float(np.percentile(a.detail, 75)) if a.detail else 0.0}
    return out


def group_scenes(hists: list[np.ndarray | None], threshold: float, characters: list[set[str]] | None = None,
                 fades: set[int] | None = None, cue: float = 0.15) -> list[int]:
    """Consecutive shots stay in one scene while their colour signature resembles the scene's so far
    (histogram intersection >= threshold). A shot that comes out of a fade through black starts a new scene (film
    grammar for a change of time or place); where the characters of both the shot and the scene are known,
    sharing none lowers the similarity by `cue` and sharing one raises it. A shot without frames joins the
    current scene."""
    scene, current, present, ids = 0, None, set(), []
    for i, h in enumerate(hists):
        cast = characters[i] if characters else set()
        if ids and i in (fades or set()):
            scene, current, present = scene + 1, None, set()
        if h is not None:
            if current is not None:
                similarity = float(np.minimum(h, current / max(current.sum(), 1e-9)).sum())
                if cast and present:
                    similarity += cue if cast & present else -cue
                if similarity < threshold:
                    scene, current, present = scene + 1, None, set()
            current = h.copy() if current is None else current + h
        present |= cast
        ids.append(scene)
    return ids


def pacing(table: pd.DataFrame, duration_s: float) -> dict:
    lengths = (table["end_time"] - table["start_time"]).to_numpy()
    minutes = max(1, int(np.ceil(duration_s / 60)))
    cuts = np.histogram(table["start_time"].iloc[1:], bins=minutes, range=(0, minutes * 60))[0].tolist()
    return {"shots": len(table), "average_shot_length_s": round(float(lengths.mean()), 3) if len(lengths) else 0.0,
            "median_shot_length_s": round(float(np.median(lengths)), 3) if len(lengths) else 0.0,
            "cuts_per_minute": round(60 * max(0, len(table) - 1) / max(duration_s, 1e-9), 2),
            "cuts_per_minute_over_time": cuts}


def narrative_graph(table: pd.DataFrame, characters: dict[int, set[str]] | None = None) -> dict:
    """Scenes as nodes in order (their shots, duration, dominant scale and camera, and the characters seen in
    them when known: `characters` by shot id), consecutive scenes linked."""
    nodes = []
    for scene_id, g in table.groupby("scene_id", sort=True):
        seen = sorted(set().union(*[(characters or {}).get(int(s), set()) for s in g["shot_id"]]))
        nodes.append({"scene_id": int(scene_id), "shots": [int(s) for s in g["shot_id"]], "characters": seen,
                      "start_time": round(float(g["start_time"].min()), 3),
                      "end_time": round(float(g["end_time"].max()), 3),
                      "duration_s": round(float((g["end_time"] - g["start_time"]).sum()), 3),
                      "dominant_scale": Counter(g["scale"]).most_common(1)[0][0],
                      "dominant_camera": Counter(g["camera"]).most_common(1)[0][0]})
    edges = [{"from": a["scene_id"], "to": b["scene_id"]} for a, b in zip(nodes, nodes[1:])]
    return {"nodes": nodes, "edges": edges}


def scene_loudness(wav_path, nodes: list[dict]) -> list[float] | None:
    """Mean loudness (dBFS) of each scene from the film's analysis WAV, None when there is none."""
    import soundfile as sf

    try:
        info = sf.info(str(wav_path))
    except (RuntimeError, OSError):
        return None
    out = []
    for n in nodes:
        start, stop = int(n["start_time"] * info.samplerate), int(n["end_time"] * info.samplerate)
        x, _ = sf.read(str(wav_path), start=start, stop=max(stop, start + 1), dtype="float32", always_2d=True)
        out.append(round(float(20 * np.log10(np.sqrt(np.mean(x ** 2)) + 1e-6)), 2))
    return out


def group_acts(nodes: list[dict], scene_hists: list[np.ndarray | None], loudness: list[float] | None,
               min_scenes: int) -> list[int]:
    """Acts (sequences) from scenes: between consecutive scenes a change score adds the palette's change
    (1 - histogram intersection), the change of pacing (|log ratio| of mean shot length) and, when the audio
    exists, the change of loudness (per 10 dB); an act ends where the score stands out (above mean + one
    standard deviation of the film's scores), with at least `min_scenes` scenes per act."""
    n = len(nodes)
    if n <= min_scenes:
        return [0] * n
    scores = []
    for i in range(1, n):
        a, b = nodes[i - 1], nodes[i]
        ha, hb = scene_hists[i - 1], scene_hists[i]
        palette = 1 - hist_similarity(ha, hb) if ha is not None and hb is not None else 0.0
        asl = lambda x: x["duration_s"] / max(len(x["shots"]), 1)  # noqa: E731
        pace = abs(float(np.log((asl(b) + 1e-3) / (asl(a) + 1e-3))))
        loud = abs(loudness[i] - loudness[i - 1]) / 10 if loudness else 0.0
        scores.append(palette + pace + loud)
    cut = float(np.mean(scores) + np.std(scores))
    acts, act, since = [0], 0, 1
    for i, s in enumerate(scores, start=1):
        if s > cut and since >= min_scenes and n - i >= min_scenes:
            act, since = act + 1, 0
        acts.append(act)
        since += 1
    return acts
