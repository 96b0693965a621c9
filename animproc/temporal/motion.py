"""Motion of a film, one reduced-resolution decode pass: per shot, dense optical flow between frames a few times
a second (energy, direction, camera versus subject), character tracks over the detections the film already
has (reviewed instances, faces) or finds on the way (faces, moving regions), 2-D pose per track (the embedded
BlazePose unless another backend is chosen), and actions per track segment. A shot's sampled frames are kept
(flow at a quarter of the reduced size) only until the shot ends."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import av
import cv2
import numpy as np
import pandas as pd

from animproc.config import TemporalConfig
from animproc.errors import MediaError
from animproc.media import Cadence, analysis_frames, open_media, reduced_bgr, reduced_height
from animproc.temporal.actions import HeuristicActionRecognizer, TrackSample
from animproc.models import ActionRecognizer, FaceDetector, FlowEstimator, PoseEstimator
from animproc.temporal.pose import NoPoseEstimator, to_coco17
from animproc.temporal.flow import camera_displacement, camera_fit, flow_summary, pixel_grid, shot_flow
from animproc.temporal.structure import face_cadence
from animproc.image.boxes import centre_inside
from animproc.temporal.tracks import (Detection, SampledFrame, Track, appearance, drop_duplicates, face_detection,
                                      link_shot, track_summary)
from animproc.video.shots import in_ranges, shot_position

FLOW_STRIDE = 4


@dataclass
class ShotMotion:
    shot_id: int
    flow: dict
    tracks: list[dict] = field(default_factory=list)
    poses: list[dict] = field(default_factory=list)
    actions: list[dict] = field(default_factory=list)
    frames: list[dict] = field(default_factory=list)  # per analysed frame after the first: its flow pair's figures


@dataclass
class _Shot:
    shot_id: int
    frames: list[SampledFrame] = field(default_factory=list)
    images: list[np.ndarray] = field(default_factory=list)
    pairs: list[dict] = field(default_factory=list)
    last: np.ndarray | None = None


def moving_regions(flow: np.ndarray, camera: np.ndarray | None, min_area: float = 0.015) -> list[np.ndarray]:
    """Boxes (reduced-flow pixels) of connected regions whose flow the camera does not explain."""
    h, w = flow.shape[:2]
    xs, ys = pixel_grid(h, w)
    residual = np.linalg.norm(flow - camera_displacement(camera, xs, ys), axis=-1)
    moving = (residual > max(0.5, 3 * float(np.median(residual)))).astype(np.uint8)
    moving = cv2.morphologyEx(moving, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    n, _, stats, _ = cv2.connectedComponentsWithStats(moving)
    # a subject is compact: a band across the whole picture is sky or ground the camera fit missed
    return [np.array([x, y, x + bw, y + bh], np.float64) for x, y, bw, bh, area in stats[1:]
            if area >= min_area * h * w and bw <= 0.8 * w and bh <= 0.9 * h]


def _box_flow(frame: SampledFrame, box: np.ndarray, dt: float) -> tuple[np.ndarray, float]:
    """(box flow minus camera flow at the box centre, mean flow deviation inside the box), per second, in
    reduced-frame pixels; `dt`: seconds to the next sampled frame, which `frame.flow` leads to."""
    if frame.flow is None or dt <= 0:
        return np.zeros(2), 0.0
    fh, fw = frame.flow.shape[:2]
    x0, y0, x1, y1 = np.clip(np.round(box / FLOW_STRIDE).astype(int), 0, [fw, fh, fw, fh])
    if x1 <= x0 or y1 <= y0:
        return np.zeros(2), 0.0
    inside = frame.flow[y0:y1, x0:x1].reshape(-1, 2)
    median = np.median(inside, axis=0)
    limbs = float(np.linalg.norm(inside - median, axis=1).mean())
    cam = camera_displacement(frame.camera, np.float32((x0 + x1) / 2), np.float32((y0 + y1) / 2))
    return (median - cam) * FLOW_STRIDE / dt, limbs * FLOW_STRIDE / dt


def _finish_shot(shot: _Shot, width: int, height: int, config: TemporalConfig, pose: PoseEstimator,
                 recognizer: ActionRecognizer) -> ShotMotion:
    frames = shot.frames
    result = ShotMotion(shot.shot_id, shot_flow(shot.pairs), frames=frame_flow(shot.shot_id, shot.pairs))
    if not frames:
        return result
    tracks = link_shot(frames, width, height, FLOW_STRIDE)
    min_observed = 1
    if not tracks:  # nothing detected in the shot: what moves against the background, again and again, is
        for f in frames:  # the subject
            for d in f.detections:
                if d.source == "motion":
                    d.score = 0.6
        tracks = link_shot(frames, width, height, FLOW_STRIDE)
        min_observed = max(2, int(0.1 * len(frames)))
    tracks = drop_duplicates([t for t in tracks if len(t.observed) >= min_observed
                              and len(t.boxes) >= config.min_track_samples])
    keep_images = bool(shot.images)
    for n, t in enumerate(tracks):
        track_id = f"{shot.shot_id}-{n}"
        summary = track_summary(t, frames, width, height)
        result.tracks.append({"track_id": track_id, "shot_id": shot.shot_id, **summary,
                              "instance_ids": sorted(set(t.instance_ids))})
        samples = _track_samples(t, shot)
        face_track = summary["source"] == "face"
        images = {frames[k].time: shot.images[k] for k in t.boxes} if keep_images else None
        for seg in recognizer.segments(samples, face_track, height, config.action_window_s, frames=images):
            result.actions.append({"track_id": track_id, "shot_id": shot.shot_id, "label": summary["label"],
                                   "start_time": round(seg.start_time, 3), "end_time": round(seg.end_time, 3),
                                   "action": seg.action, "confidence": seg.confidence, "method": seg.method,
                                   "evidence": seg.evidence})
        if pose.needs_frames:
            result.poses.extend(_poses(t, track_id, shot, pose, config.pose_interval_seconds, width, height))
    return result


def frame_flow(shot_id: int, pairs: list[dict]) -> list[dict]:
    """One row per frame pair of a shot, named by its later frame: the interval to the frame before and the
    pair's flow (frame widths per second), whole, the camera's and what the camera leaves; what
    `flow_summary` measured already, so a spike can be found without a second flow pass."""
    return [{"shot_id": shot_id, "frame_index": p["frame_index"], "time": round(p["time"], 4),
             "interval": round(p["interval"], 4), "magnitude": round(p["energy"], 5),
             "camera_magnitude": round(p["camera"], 5), "residual_magnitude": round(p["residual"], 5)}
            for p in pairs]


def _track_samples(t: Track, shot: _Shot) -> list[TrackSample]:
    out = []
    frames = shot.frames
    for k in sorted(t.boxes):
        dt = frames[k + 1].time - frames[k].time if k + 1 < len(frames) else 0.0
        rel, limbs = _box_flow(frames[k], t.boxes[k], dt)
        seen = min(t.face_heights, key=lambda j: abs(j - k)) if t.face_heights else None  # the nearest face seen
        out.append(TrackSample(frames[k].time, t.boxes[k], rel, limbs,
                               face_height=t.face_heights[seen] if seen is not None else None))
    return out


def _poses(t: Track, track_id: str, shot: _Shot, pose: PoseEstimator, every_s: float, width: int,
           height: int) -> list[dict]:
    """Pose rows of a track about every `every_s`: the estimator's keypoints (x, y as shares of the picture,
    score) in its own layout, and the COCO-17 ones beside them."""
    rows, last = [], -1e9
    layout = getattr(pose, "layout", "coco17")
    for k in sorted(t.boxes):
        f = shot.frames[k]
        if f.time - last < every_s:
            continue
        last = f.time
        found = pose(shot.images[k], [t.boxes[k]])
        if not found or not len(found[0]):
            continue
        points = [[round(float(x) / width, 4), round(float(y) / height, 4), round(float(s), 3)] for x, y, s in found[0]]
        rows.append({"track_id": track_id, "shot_id": shot.shot_id, "frame_index": f.frame_index,
                     "time": round(f.time, 3), "layout": layout, "keypoints": points,
                     "coco17": to_coco17(np.array(points), layout).tolist()})
    return rows


def scan_motion(path, shots: pd.DataFrame, fps: float, config: TemporalConfig, flow: FlowEstimator,
                detections: dict[int, list[Detection]] | None = None,
                detect_faces: FaceDetector | None = None, pose: PoseEstimator = NoPoseEstimator(),
                recognizer: ActionRecognizer = HeuristicActionRecognizer(),
                on_shot: Callable[[ShotMotion], None] | None = None,
                dissolves: list[tuple[int, int]] | None = None) -> list[ShotMotion]:
    """`detections`: by frame index, boxes in the source's pixels (rescaled here). `detect_faces` is run about
    every `face_interval_seconds` on frames at twice the analysis width. Inside `dissolves` (first, last frame)
    nothing is detected and given detections are set aside: a face there may be the other shot's, and a track
    started on it would be carried back through a shot it is not in. `detect_faces` is None where the film's
    faces are known already (then given in `detections`). Results arrive per shot."""
    detections, dissolves = detections or {}, dissolves or []
    starts, ids = shots["start_frame"].to_numpy(), shots["shot_id"].to_numpy()
    ends = shots["end_frame"].to_numpy() if "end_frame" in shots else np.full(len(ids), 1 << 40)
    step = max(1, int(round(fps / config.motion_fps)))
    face_step = max(1, int(round(fps * config.face_interval_seconds)))
    keep_images = pose.needs_frames or recognizer.needs_frames
    results: list[ShotMotion] = []
    current: _Shot | None = None
    samples, face_due = Cadence(step), {}
    pending = sorted(detections)  # frames with detections; each goes to the first decoded frame at or past it
    with open_media(path) as container:
        container.streams.video[0].thread_type = "AUTO"  # frame threads: the same frames, sooner
        cc = container.streams.video[0].codec_context
        width = config.analysis_width
        height = reduced_height(cc.width, cc.height, width)
        sx, sy = width / max(cc.width, 1), height / max(cc.height, 1)
        try:
            for index, frame in analysis_frames(container, fps):
                k = shot_position(starts, index)
                found = []
                blended = in_ranges(dissolves, index)
                while pending and pending[0] <= index:
                    f = pending.pop(0)
                    if f >= starts[k] and not in_ranges(dissolves, f):  # a detection from the shot before stays there
                        found.extend(detections[f])
                face_frame = detect_faces is not None and not blended and face_due.setdefault(
                    k, face_cadence(starts[k], ends[k], face_step)).due(index)
                if not samples.due(index) and not found and not face_frame:
                    continue
                shot_id = int(ids[k])
                if current is None or current.shot_id != shot_id:
                    if current is not None:
                        results.append(_emit(current, width, height, config, pose, recognizer, on_shot))
                    current = _Shot(shot_id)
                dets = [Detection(d.box * np.array([sx, sy, sx, sy]), d.score, d.source, d.instance_id, d.label,
                                  face_height=None if d.face_height is None else d.face_height * sy) for d in found]
                if face_frame:  # one conversion at twice the width serves the faces and the sample
                    big_width = min(cc.width, 2 * width)
                    big = reduced_bgr(frame, big_width, reduced_height(cc.width, cc.height, big_width))
                    small = cv2.resize(big, (width, height), interpolation=cv2.INTER_AREA)
                    r = width / big.shape[1]
                    for f in detect_faces(big):
                        box = np.array(f.box, np.float64) * r
                        if not any(centre_inside(d.box, box) for d in dets):
                            dets.append(face_detection(box, float(f.score), width, height))
                else:
                    small = reduced_bgr(frame, width, height)
                _advance(current, index, index / fps, small, dets, keep_images, flow)
        except av.error.FFmpegError as exc:
            raise MediaError(path, f"decoding failed ({exc})") from None
    if current is not None:
        results.append(_emit(current, width, height, config, pose, recognizer, on_shot))
    return results


def _advance(shot: _Shot, index: int, t: float, small: np.ndarray, dets: list[Detection], keep_images: bool,
             estimate_flow: FlowEstimator) -> None:
    for d in dets:
        d.appearance = appearance(small, d.box)
    if shot.last is not None and shot.frames:
        prev = shot.frames[-1]
        dt = t - prev.time
        flow = estimate_flow(shot.last, small)
        h, w = flow.shape[:2]
        foreground = None
        if prev.detections:
            foreground = np.zeros((h, w), np.uint8)
            for d in prev.detections:
                x0, y0, x1, y1 = np.clip(np.round(d.box).astype(int), 0, [w, h, w, h])
                foreground[y0:y1, x0:x1] = 1
        camera = camera_fit(flow, foreground)
        shot.pairs.append({**flow_summary(flow, dt, foreground, camera), "frame_index": index, "time": t,
                           "interval": dt})
        prev.flow = cv2.resize(flow, (w // FLOW_STRIDE, h // FLOW_STRIDE), interpolation=cv2.INTER_AREA) / FLOW_STRIDE
        if camera is not None:  # the same similarity in the reduced flow's pixels: only its translation scales
            prev.camera = np.hstack([camera[:, :2], camera[:, 2:] / FLOW_STRIDE])
        for box in moving_regions(prev.flow, prev.camera):
            prev.detections.append(Detection(box * FLOW_STRIDE, 0.3, "motion"))
    thumb = cv2.resize(small, (small.shape[1] // FLOW_STRIDE, small.shape[0] // FLOW_STRIDE), interpolation=cv2.INTER_AREA)
    shot.frames.append(SampledFrame(index, t, None, dets, thumb=thumb))
    if keep_images:
        shot.images.append(small)
    shot.last = small


def _emit(shot: _Shot, width, height, config, pose, recognizer, on_shot) -> ShotMotion:
    result = _finish_shot(shot, width, height, config, pose, recognizer)
    if on_shot is not None:
        on_shot(result)
    return result
