"""A Light-ASD / TalkNet-style active-speaker model from a local ONNX file, run with onnxruntime (CUDA when
present). Its inputs: the face as grey 112x112 crops, one per step, [1, T, 112, 112] in 0-1, and the audio as
13 MFCCs at 100 frames a second, [1, 10 T, 13] (the steps are 0.1 s); its output: a speaking logit per step,
[1, T] or [T] (or two-class logits [T, 2], speaking second). Long tracks are run in windows of `window` steps."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from animproc.errors import ModelError
from animproc.multimodal.active_speaker import N_MFCC, StepAudio
from animproc.multimodal.mouth import face_square, square_crop
from animproc.onnx import onnx_session

CROP = 112


class OnnxActiveSpeaker:
    def __init__(self, model_path: str | Path, device: str = "auto", window: int = 250):
        path = Path(model_path)
        self.session = onnx_session(path, device, "active-speaker ONNX model")
        inputs = {len(i.shape): i.name for i in self.session.get_inputs()}
        if len(self.session.get_inputs()) != 2 or set(inputs) != {3, 4}:
            shapes = [i.shape for i in self.session.get_inputs()]
            raise ModelError(path, f"expected inputs audio [1, 10T, 13] and visual [1, T, 112, 112], found {shapes}")
        self.audio_input, self.visual_input = inputs[3], inputs[4]
        self.window = window
        self.name = f"onnx-asd:{path.name}"

    def visual(self, frame_bgr, previous_bgr, box) -> np.ndarray:
        crop = square_crop(frame_bgr, face_square(box, 1.0), CROP)
        return cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY).reshape(-1)

    def scores(self, visual: np.ndarray, audio: StepAudio) -> np.ndarray:
        out = []
        for first in range(0, len(visual), self.window):
            faces = visual[first:first + self.window].reshape(1, -1, CROP, CROP).astype(np.float32) / 255.0
            mfcc = audio.mfcc[first:first + self.window].reshape(1, -1, N_MFCC).astype(np.float32)
            logits = np.asarray(self.session.run(None, {self.visual_input: faces, self.audio_input: mfcc})[0])
            out.append(speaking_probability(logits, faces.shape[1]))
        return np.concatenate(out) if out else np.zeros(0)


def speaking_probability(logits: np.ndarray, steps: int) -> np.ndarray:
    """A model's per-step output as the probability of speaking: sigmoid of one logit, or softmax of two."""
    logits = logits.reshape(steps, -1)
    if logits.shape[1] == 2:
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return e[:, 1] / e.sum(axis=1)
    return 1 / (1 + np.exp(-logits[:, 0]))

