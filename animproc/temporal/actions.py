"""Actions of tracked characters, per track segment.

`HeuristicActionRecognizer` (the default) is a heuristic and says so in every row: from a track's motion
relative to the background (its box's flow minus the camera's, in body heights per second), the motion
inside its box (limbs), its box shape over time and, when pose keypoints exist, their spread, it names one of
standing, walking, running, jumping, falling, fighting (fast limb motion in place) and talking_head (a large
face that stays put). `VideoActionRecognizer` runs a torchvision video classifier (r3d_18, mc3_18,
r2plus1d_18) with a local state dict and a labels file on 16-frame crops of the track."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from animproc.errors import ModelError

ACTIONS = ("standing", "walking", "running", "jumping", "falling", "fighting", "talking_head")


@dataclass
class TrackSample:
    time: float
    box: np.ndarray  # x0, y0, x1, y1, reduced-frame pixels
    relative_motion: np.ndarray  # box flow minus camera flow at the box, pixels per second
    limb_motion: float  # mean deviation of the flow inside the box from its median, pixels per second
    keypoints: np.ndarray | None = None
    face_height: float | None = None  # reduced-frame pixels, when a face was seen on this sample


@dataclass
class ActionSegment:
    start_time: float
    end_time: float
    action: str
    confidence: float
    method: str
    evidence: dict


def window_features(samples: list[TrackSample], face_track: bool, frame_height: int) -> dict:
    heights = np.array([max(s.box[3] - s.box[1], 1.0) for s in samples])
    body = float(np.median(heights))
    rel = np.array([s.relative_motion for s in samples]) / body
    widths = np.array([s.box[2] - s.box[0] for s in samples])
    aspect = widths / heights
    return {"speed": float(np.median(np.linalg.norm(rel, axis=1))),
            "rise": float(-rel[:, 1].min()), "drop": float(rel[:, 1].max()),
            "limbs": float(np.median([s.limb_motion for s in samples])) / body,
            "aspect_change": float(aspect[-1] / max(aspect[0], 1e-6)),
            "face_track": face_track, "size": body / frame_height,
            "face_size": float(np.median(faces)) / frame_height if (faces := [s.face_height for s in samples
                                                                               if s.face_height]) else None}


class HeuristicActionRecognizer:
    name = "heuristic"
    licence = "no learned weights (project code)"
    needs_frames = False
    method = "heuristic: track motion relative to the background, limb motion inside the box, box shape"

    def __init__(self, walk: float = 0.25, run: float = 1.2, jump: float = 1.0, fall: float = 1.0,
                 fight: float = 0.8, talking_size: float = 0.12):
        self.walk, self.run, self.jump, self.fall, self.fight, self.talking_size = walk, run, jump, fall, fight, talking_size

    def classify(self, f: dict) -> tuple[str, float]:
        if f["drop"] >= self.fall and f["aspect_change"] >= 1.4:
            return "falling", min(1.0, 0.5 + 0.25 * f["drop"] / self.fall)
        if f["rise"] >= self.jump and f["drop"] >= 0.5 * self.jump:
            return "jumping", min(1.0, 0.5 + 0.25 * f["rise"] / self.jump)
        if f["speed"] >= self.run:
            return "running", min(1.0, 0.5 + 0.25 * f["speed"] / self.run)
        if f["limbs"] >= self.fight and f["speed"] < self.run:
            return "fighting", min(1.0, 0.4 + 0.2 * f["limbs"] / self.fight)
        if f["speed"] >= self.walk:
            return "walking", min(1.0, 0.4 + 0.3 * f["speed"] / self.run)
        if f["face_track"] and (f["size"] if f.get("face_size") is None else f["face_size"]) >= self.talking_size:
            return "talking_head", 0.6
        return "standing", round(float(np.clip(1 - f["speed"] / self.walk, 0.4, 0.9)), 3)

    def segments(self, samples: list[TrackSample], face_track: bool, frame_height: int, window_s: float = 1.0,
                 frames=None) -> list[ActionSegment]:
        return merge_windows(samples, window_s, lambda w: (*self.classify(f := window_features(w, face_track,
                                                                                               frame_height)), f),
                             self.method)


def _windows(samples: list[TrackSample], window_s: float) -> list[list[TrackSample]]:
    out, current = [], []
    for s in samples:
        if current and s.time - current[0].time >= window_s:
            out.append(current)
            current = []
        current.append(s)
    if current:
        if out and len(current) < 2:
            out[-1].extend(current)
        else:
            out.append(current)
    return out


def merge_windows(samples: list[TrackSample], window_s: float, classify, method: str) -> list[ActionSegment]:
    """Classify each window of about `window_s` and merge neighbours with the same action into segments."""
    segments: list[ActionSegment] = []
    for w in _windows(samples, window_s):
        if len(w) < 2:
            continue
        action, confidence, evidence = classify(w)
        end = w[-1].time
        if segments and segments[-1].action == action:
            s = segments[-1]
            s.end_time, s.confidence = end, round(max(s.confidence, confidence), 3)
        else:
            segments.append(ActionSegment(w[0].time, end, action, round(float(confidence), 3), method,
                                          {k: (round(v, 4) if isinstance(v, float) else v) for k, v in evidence.items()}))
    return segments


class VideoActionRecognizer:
    """torchvision video classifier from a local state dict; labels from a text file, one per line."""

    name = "torchvision"
    licence = "BSD-3-Clause (torchvision video models); check the local checkpoint's training data terms"
    needs_frames = True
    mean = np.array([0.43216, 0.394666, 0.37645], np.float32)
    std = np.array([0.22803, 0.22145, 0.216989], np.float32)

    def __init__(self, checkpoint: str | Path, labels: str | Path, architecture: str = "r3d_18",
                 device: str = "auto", clip_frames: int = 16, size: int = 112):
        import torch
        from torchvision.models import video

        path, labels_path = Path(checkpoint), Path(labels)
        if not path.is_file():
            raise ModelError(path, "video classifier checkpoint not found")
        if not labels_path.is_file():
            raise ModelError(labels_path, "labels file not found (one class name per line)")
        self.labels = [line.strip() for line in labels_path.read_text().splitlines() if line.strip()]
        if architecture not in ("r3d_18", "mc3_18", "r2plus1d_18"):
            raise ModelError(path, f"unknown architecture {architecture!r} (r3d_18, mc3_18 or r2plus1d_18)")
        model = getattr(video, architecture)(weights=None, num_classes=len(self.labels))
        try:
            model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        except Exception as exc:  # noqa: BLE001 - a wrong file is the user's problem to hear about
            raise ModelError(path, f"not a {architecture} state dict with {len(self.labels)} classes ({exc})") from None
        self.device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
        self.model = model.eval().to(self.device)
        self.clip_frames, self.size = clip_frames, size
        self.method = f"torchvision {architecture} from {path.name}"

    def _clip(self, samples: list[TrackSample], frames: dict[float, np.ndarray]):
        import torch

        picks = np.linspace(0, len(samples) - 1, self.clip_frames).round().astype(int)
        crops = []
        for i in picks:
            s = samples[i]
            img = frames[s.time]
            x0, y0, x1, y1 = np.clip(np.round(s.box).astype(int), 0, [img.shape[1], img.shape[0]] * 2)
            crop = img[y0:max(y1, y0 + 2), x0:max(x1, x0 + 2)]
            crop = cv2.resize(crop, (self.size, self.size))[..., ::-1].astype(np.float32) / 255.0
            crops.append((crop - self.mean) / self.std)
        return torch.from_numpy(np.stack(crops).transpose(3, 0, 1, 2)[None].copy()).to(self.device)

    def segments(self, samples: list[TrackSample], face_track: bool, frame_height: int, window_s: float = 1.0,
                 frames: dict[float, np.ndarray] | None = None) -> list[ActionSegment]:
        import torch

        if not frames:
            raise ModelError(self.method, "the video classifier needs the track's frames")

        def classify(w):
            with torch.inference_mode():
                p = torch.softmax(self.model(self._clip(w, frames)), -1)[0].cpu().numpy()
            k = int(p.argmax())
            return self.labels[k], float(p[k]), {"top3": [self.labels[i] for i in np.argsort(-p)[:3]]}

        return merge_windows(samples, window_s, classify, self.method)
