"""Character tracks within a shot, ByteTrack-style, over sparse detections.

Detections (reviewed instances on kept frames, faces, moving regions) arrive on some sampled frames only, so
between them every track is carried by the optical flow inside its box; on a frame with detections, confident
ones are matched to the carried boxes first (Hungarian on IoU plus colour appearance), weak ones then take
what is left, and unmatched confident ones start tracks. A finished track is carried back by the flow towards the
shot's start and on towards its end while its box stays in the picture and still holds the colours its
subject had when last seen, so a subject found once is followed through the shot and no further. Boxes are x0, y0, x1, y1 in the reduced frame's pixels."""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment

from animproc.image.boxes import box_iou, figure_box, grown_box, inside_share, overlap_of_smaller
from animproc.temporal.flow import camera_displacement, pixel_grid


@dataclass
class Detection:
    box: np.ndarray
    score: float
    source: str  # instance | face | motion
    instance_id: str | None = None
    label: str | None = None  # character name or identity cluster, when known
    appearance: np.ndarray | None = None
    face_height: float | None = None  # for a face: its own height (the box is then the figure it implies)


@dataclass
class SampledFrame:
    frame_index: int
    time: float
    flow: np.ndarray | None  # flow to the next sampled frame of the shot, reduced by `flow_stride`
    detections: list[Detection]
    camera: np.ndarray | None = None  # the camera's similarity transform over that flow (2x3, reduced pixels)
    thumb: np.ndarray | None = None  # the frame at the flow's size (BGR), to check a carried box still holds its subject


@dataclass
class Track:
    track_id: int
    boxes: dict[int, np.ndarray] = field(default_factory=dict)  # position in the shot's frame list -> box
    observed: set[int] = field(default_factory=set)
    labels: Counter = field(default_factory=Counter)
    sources: Counter = field(default_factory=Counter)
    instance_ids: list[str] = field(default_factory=list)
    appearance: np.ndarray | None = None
    reference: np.ndarray | None = None  # colours in the box where the subject was last seen (thumbnail scale)
    face_heights: dict[int, float] = field(default_factory=dict)
    tentative: bool = False  # started by a weak detection: kept only if seen again


def appearance(bgr: np.ndarray, box: np.ndarray) -> np.ndarray | None:
    """Hue-saturation histogram inside a box (L1-normalised), the appearance cue for matching."""
    x0, y0, x1, y1 = np.clip(np.round(box).astype(int), 0, [bgr.shape[1], bgr.shape[0]] * 2)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    hsv = cv2.cvtColor(bgr[y0:y1, x0:x1], cv2.COLOR_BGR2HSV)
    h = cv2.calcHist([hsv], [0, 1], None, [12, 4], [0, 180, 0, 256]).reshape(-1)
    return h / max(float(h.sum()), 1e-9)


def carry(box: np.ndarray, flow: np.ndarray | None, stride: int, backward: bool = False,
          camera: np.ndarray | None = None, own_motion: float = 0.5) -> np.ndarray:
    """The box moved by the flow inside it (the flow is `stride` times smaller than the frame): the median of
    the pixels that move unlike the camera when they are a fifth of the box or more (the subject, which a loose
    box would otherwise lose to the background), else the median of all."""
    if flow is None:
        return box
    fh, fw = flow.shape[:2]
    x0, y0, x1, y1 = np.clip(np.round(box / stride).astype(int), 0, [fw, fh, fw, fh])
    if x1 <= x0 or y1 <= y0:
        return box
    inside = flow[y0:y1, x0:x1].reshape(-1, 2)
    d = np.median(inside, axis=0)
    if camera is not None:
        xs, ys = (g[y0:y1, x0:x1] for g in pixel_grid(fh, fw))
        own = np.linalg.norm(inside - camera_displacement(camera, xs, ys).reshape(-1, 2), axis=1) > own_motion
        if own.mean() >= 0.2:
            d = np.median(inside[own], axis=0)
    d = d * stride
    return box + (-1 if backward else 1) * np.array([d[0], d[1], d[0], d[1]])


def face_detection(face_box: np.ndarray, score: float, width: int, height: int) -> Detection:
    """A face as a tracking detection: its box is the figure the face implies (a face a few pixels wide is too
    small to carry by flow, to match or to recognise by colour; the body is not), its height kept aside."""
    box = np.array(figure_box(face_box, (0, 0, width, height)), np.float64)
    return Detection(box, score, "face", face_height=float(face_box[3] - face_box[1]))


def match_iou(a: np.ndarray, b: np.ndarray, min_side: float) -> float:
    return box_iou(grown_box(a, min_side), grown_box(b, min_side))


def _cost(tracks: list[Track], boxes: list[np.ndarray], dets: list[Detection], appearance_weight: float,
          min_side: float) -> np.ndarray:
    cost = np.ones((len(tracks), len(dets)))
    for i, (t, b) in enumerate(zip(tracks, boxes)):
        for j, d in enumerate(dets):
            iou = match_iou(b, d.box, min_side)
            similar = 1.0
            if t.appearance is not None and d.appearance is not None:
                similar = float(np.minimum(t.appearance, d.appearance).sum())
            cost[i, j] = 1 - ((1 - appearance_weight) * iou + appearance_weight * similar * (iou > 0))
    return cost


def link_shot(frames: list[SampledFrame], width: int, height: int, flow_stride: int = 4, high: float = 0.5,
              min_iou: float = 0.2, appearance_weight: float = 0.3, min_inside: float = 0.4,
              min_similarity: float = 0.5, min_match_side: float = 0.1) -> list[Track]:
    """Tracks of one shot from its sampled frames in order (see the module's docstring). Boxes smaller than
    `min_match_side` of the picture height are matched as if that size."""
    min_side = min_match_side * height
    tracks: list[Track] = []
    active: dict[int, np.ndarray] = {}  # track id -> box on the current frame
    for k, frame in enumerate(frames):
        if k:
            flow = frames[k - 1].flow
            active = {tid: carry(b, flow, flow_stride, camera=frames[k - 1].camera) for tid, b in active.items()}
            active = {tid: b for tid, b in active.items() if inside_share(b, width, height) >= min_inside
                      and _still_there(tracks[tid].reference, frame, b, flow_stride, min_similarity)}
        strong = [d for d in frame.detections if d.score >= high]
        weak = [d for d in frame.detections if d.score < high]
        free = list(active)
        for group, new_tracks in ((strong, True), (weak, False)):
            if not group:
                continue
            matched_dets: set[int] = set()
            if free:
                cost = _cost([tracks[t] for t in free], [active[t] for t in free], group, appearance_weight, min_side)
                rows, cols = linear_sum_assignment(cost)
                taken = []
                for r, c in zip(rows, cols):
                    if match_iou(active[free[r]], group[c].box, min_side) >= min_iou:
                        _observe(tracks[free[r]], k, group[c], active[free[r]])
                        active[free[r]] = tracks[free[r]].boxes[k]
                        matched_dets.add(c)
                        taken.append(free[r])
                free = [t for t in free if t not in taken]
            for j, d in enumerate(group):  # weak detections (not moving regions) start tracks on probation
                if j not in matched_dets and (new_tracks or d.source != "motion"):
                    t = Track(len(tracks), tentative=not new_tracks)
                    _observe(t, k, d)
                    tracks.append(t)
                    active[t.track_id] = d.box
        for tid, b in active.items():
            tracks[tid].boxes.setdefault(k, b)
            if k in tracks[tid].observed and frame.thumb is not None:
                tracks[tid].reference = appearance(frame.thumb, tracks[tid].boxes[k] / flow_stride)
    tracks = [t for t in tracks if not t.tentative or len(t.observed) >= 2]
    for t in tracks:
        _extend_back(t, frames, width, height, flow_stride, min_inside, min_similarity)
    return tracks


def _blend(carried: np.ndarray, seen: np.ndarray, size_weight: float = 0.2) -> np.ndarray:
    """A moving region is a noisy box (a turning head, a swinging arm): it moves the track halfway towards it
    and changes its size a little."""
    c = ((carried[:2] + carried[2:]) / 2 + (seen[:2] + seen[2:]) / 2) / 2
    size = (1 - size_weight) * (carried[2:] - carried[:2]) + size_weight * (seen[2:] - seen[:2])
    return np.concatenate([c - size / 2, c + size / 2])


def _observe(track: Track, k: int, d: Detection, carried: np.ndarray | None = None) -> None:
    track.boxes[k] = _blend(carried, d.box) if carried is not None and d.source == "motion" else d.box
    track.observed.add(k)
    if d.face_height is not None:
        track.face_heights[k] = d.face_height
    track.sources[d.source] += 1
    if d.label:
        track.labels[d.label] += 1
    if d.instance_id:
        track.instance_ids.append(d.instance_id)
    if d.appearance is not None:
        track.appearance = d.appearance if track.appearance is None else 0.7 * track.appearance + 0.3 * d.appearance


def _still_there(reference: np.ndarray | None, frame: SampledFrame, box: np.ndarray, stride: int,
                 min_similarity: float) -> bool:
    """Whether a carried box still holds what it held when its subject was last seen (colour histogram
    intersection): a subject that walked out of the picture, or was never there yet, ends the track."""
    if reference is None or frame.thumb is None:
        return True
    now = appearance(frame.thumb, box / stride)
    return now is not None and float(np.minimum(reference, now).sum()) >= min_similarity


def _extend_back(track: Track, frames: list[SampledFrame], width: int, height: int, stride: int,
                 min_inside: float, min_similarity: float) -> None:
    first = min(track.boxes)
    box = track.boxes[first]
    reference = appearance(frames[first].thumb, box / stride) if frames[first].thumb is not None else None
    for k in range(first - 1, -1, -1):
        box = carry(box, frames[k].flow, stride, backward=True, camera=frames[k].camera)
        if inside_share(box, width, height) < min_inside or not _still_there(reference, frames[k], box, stride,
                                                                              min_similarity):
            break
        track.boxes[k] = box


def drop_duplicates(tracks: list[Track], overlap: float = 0.5) -> list[Track]:
    """Of two tracks whose boxes overlap (intersection over the smaller >= `overlap`) on most of the frames they share, keep the one seen
    more often: a subject found by two detectors, or found twice before its tracks met, is one track."""
    order = sorted(tracks, key=lambda t: (-len(t.observed), t.track_id))
    kept: list[Track] = []
    for t in order:
        duplicate = False
        for k in kept:
            common = set(t.boxes) & set(k.boxes)
            if common and np.mean([overlap_of_smaller(t.boxes[i], k.boxes[i]) >= overlap for i in common]) >= 0.5:
                duplicate = True
                break
        if not duplicate:
            kept.append(t)
    return sorted(kept, key=lambda t: t.track_id)


def path_boxes(path: str) -> list[tuple[int, np.ndarray]]:
    """A stored track path (JSON rows of frame index, centre x, centre y, width, height, as fractions of the
    picture) as (frame index, box x0, y0, x1, y1 in fractions)."""
    return [(int(f), np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])) for f, cx, cy, w, h in json.loads(path)]


def track_summary(track: Track, frames: list[SampledFrame], width: int, height: int) -> dict:
    """Duration, path (frame index, centre x, centre y, width, height as fractions of the picture) and speed
    (mean centre speed in frame widths per second) of one track."""
    keys = sorted(track.boxes)
    path = []
    for k in keys:
        x0, y0, x1, y1 = track.boxes[k]
        path.append([frames[k].frame_index, round(float((x0 + x1) / 2 / width), 4), round(float((y0 + y1) / 2 / height), 4),
                     round(float((x1 - x0) / width), 4), round(float((y1 - y0) / height), 4)])
    times = np.array([frames[k].time for k in keys])
    centres = np.array([[p[1], p[2] * height / width] for p in path])
    duration = float(times[-1] - times[0]) if len(times) > 1 else 0.0
    travelled = float(np.linalg.norm(np.diff(centres, axis=0), axis=1).sum()) if len(centres) > 1 else 0.0
    return {"start_frame": frames[keys[0]].frame_index, "end_frame": frames[keys[-1]].frame_index,
            "start_time": round(float(times[0]), 3), "end_time": round(float(times[-1]), 3),
            "duration": round(duration, 3), "observed": len(track.observed), "samples": len(keys),
            "speed": round(travelled / duration, 4) if duration > 0 else 0.0, "path": path,
            "label": track.labels.most_common(1)[0][0] if track.labels else None,
            "source": track.sources.most_common(1)[0][0] if track.sources else None}
