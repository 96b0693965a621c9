"""One Protocol per model family: what a backend must offer for the core stages to run it. The core types its
arguments with these, the resources (`resources/*.py`) build a backend from env vars and the film config and
hand it out through one accessor, `model(config)`; tests check each backend against its Protocol. Every
Protocol is runtime-checkable, so `isinstance(backend, Segmenter)` tells whether the members are there.

Families that may have no model configured (pose, zero-shot) have a do-nothing backend, so the core never
checks for None: it asks a backend what it needs (`needs_frames`) and records what it did (`status`)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np

    from animproc.audio.diarize import SpeechSegment
    from animproc.identity.faces import FaceRecord
    from animproc.image.faces import Face
    from animproc.instances.segment import Proposal
    from animproc.multimodal.active_speaker import StepAudio
    from animproc.progress import Progress
    from animproc.temporal.actions import ActionSegment, TrackSample
    from animproc.training.captions import CaptionFacts
    from animproc.video.shots import ShotDetector


@runtime_checkable
class FaceDetector(Protocol):
    """Faces with 5 landmarks (eyes, nose, mouth corners), in the image's own pixels."""

    name: str
    threshold: float

    def __call__(self, image_bgr: np.ndarray) -> list[Face]: ...


@runtime_checkable
class FaceAnalyzer(Protocol):
    """Detect, align to 112x112 and embed. `detector` is the same detection alone: every stage that only
    needs face boxes (segmentation seeds, shot scale, tracks) uses it, so one setting picks faces everywhere.
    `embed` gives the embedding of faces `detector` found before, so detections made once (by `instances`) are
    reused and faces left out of clustering are never embedded."""

    name: str
    dim: int
    detector: FaceDetector

    def __call__(self, image_bgr: np.ndarray) -> list[FaceRecord]: ...

    def embed(self, image_bgr: np.ndarray, faces: list[Face]) -> list[np.ndarray]: ...


@runtime_checkable
class Segmenter(Protocol):
    name: str

    def __call__(self, image_bgr: np.ndarray, faces: list[Face]) -> list[Proposal]: ...


@runtime_checkable
class Inpainter(Protocol):
    name: str

    def __call__(self, image_bgr: np.ndarray, mask: np.ndarray, prompt: str | None = None) -> np.ndarray: ...


@runtime_checkable
class Separator(Protocol):
    """The dialogue (vocals) stem of a stereo chunk [2, n] at `rate`, same shape."""

    name: str

    def vocals(self, stereo: np.ndarray, rate: int) -> np.ndarray: ...


@runtime_checkable
class Diarizer(Protocol):
    """Who speaks when in a 16 kHz mono waveform; `progress` hears how far it is."""

    name: str

    def __call__(self, wav: np.ndarray, progress: Progress = ...) -> list[SpeechSegment]: ...


@runtime_checkable
class ShotDetectors(Protocol):
    """A shot-detection backend: the boundary detectors to run on one decode pass of a film at `fps`."""

    name: str

    def __call__(self, fps: float) -> list[ShotDetector]: ...


@runtime_checkable
class FlowEstimator(Protocol):
    """Dense optical flow [h, w, 2] in pixels from one BGR frame to the next."""

    name: str

    def __call__(self, prev_bgr: np.ndarray, next_bgr: np.ndarray) -> np.ndarray: ...


@runtime_checkable
class PoseEstimator(Protocol):
    """Keypoints [k, 3] (x, y, score in image pixels) per given box; an empty list when it estimates nothing.
    `status` says what was done and why (stored beside the poses); `needs_frames`: whether the caller must keep
    a shot's frames for it."""

    name: str
    status: str
    needs_frames: bool

    def __call__(self, image_bgr: np.ndarray, boxes: list[np.ndarray]) -> list[np.ndarray]: ...


@runtime_checkable
class ActionRecognizer(Protocol):
    name: str
    needs_frames: bool

    def segments(self, samples: list[TrackSample], face_track: bool, frame_height: int, window_s: float = 1.0,
                 frames: dict[float, np.ndarray] | None = None) -> list[ActionSegment]: ...


@runtime_checkable
class ZeroShotConfirmer(Protocol):
    """How well each image matches `prompt` against `neutral`, 0-1, or None per image where nothing judged."""

    name: str

    def __call__(self, images_bgr: list[np.ndarray], prompt: str, neutral: str = ...) -> list[float | None]: ...


@runtime_checkable
class Captioner(Protocol):
    """The words of a training caption after the film's prefix and the trigger, one per RGBA image. `method`
    is stored with every caption (a template says it is one). `facts` is what the platform measured about each
    image, for backends that do not look at it."""

    name: str
    method: str

    def __call__(self, images_rgba: list[np.ndarray], facts: list[CaptionFacts], prompt: str) -> list[str]: ...


@runtime_checkable
class ImageGenerator(Protocol):
    """Text-to-image from a base model with one LoRA checkpoint applied at a time (`use` names it; None: the
    base model alone). `ready` is false for the do-nothing backend, whose `status` says why nothing is generated."""

    name: str
    status: str
    ready: bool

    def use(self, checkpoint: str | None) -> None: ...

    def __call__(self, prompt: str, seed: int, steps: int, size: int) -> np.ndarray: ...


@runtime_checkable
class ActiveSpeakerModel(Protocol):
    """Who speaks on screen, one face track at a time. `visual`: what the model reads from one face at one step
    (a frame and the frame before it, the face box in the frame's pixels), one row per step; `scores`: a
    track's rows [T, ...] and the audio at the same steps -> a speaking score 0-1 per step [T]."""

    name: str

    def visual(self, frame_bgr: np.ndarray, previous_bgr: np.ndarray,
               box: tuple[float, float, float, float]) -> np.ndarray: ...

    def scores(self, visual: np.ndarray, audio: StepAudio) -> np.ndarray: ...
