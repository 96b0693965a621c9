"""Synthetic voices: a source-filter model (glottal pulse train through vowel formant resonators) with a
distinct pitch, vocal-tract length, breathiness and speaking rate per character. No TTS needed."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

VOWELS = {  # F1, F2, F3 in Hz for an adult male vocal tract (Peterson & Barney)
    "a": (730, 1090, 2440), "e": (530, 1840, 2480), "i": (270, 2290, 3010),
    "o": (570, 840, 2410), "u": (300, 870, 2240), "ae": (660, 1720, 2410),
}


@dataclass(frozen=True)
class Voice:
    f0: float  # mean pitch, Hz
    tract: float  # formant scale: >1 shorter vocal tract (higher formants)
    breath: float  # share of aspiration noise
    rate: float  # syllables per second
    vibrato: float = 5.0  # Hz


def _resonator(x: np.ndarray, freq: float, bandwidth: float, sr: int) -> np.ndarray:
    r = np.exp(-np.pi * bandwidth / sr)
    theta = 2 * np.pi * freq / sr
    a = [1.0, -2 * r * np.cos(theta), r * r]
    return lfilter([1.0 - r], a, x)


def _glottal_source(f0: np.ndarray, sr: int, rng: np.random.Generator) -> np.ndarray:
    phase = np.cumsum(f0 / sr)
    pulses = np.zeros_like(f0)
    idx = np.flatnonzero(np.diff(np.floor(phase)) > 0) + 1
    pulses[idx] = 1.0
    # Rosenberg-like smoothing of the pulse train and -12 dB/octave tilt.
    source = lfilter([1.0], [1.0, -1.9, 0.905], pulses)
    return source / (np.abs(source).max() + 1e-9)


def syllables(duration: float, voice: Voice, rng: np.random.Generator) -> list[tuple[float, float, str]]:
    out, t = [], 0.0
    while t < duration - 0.08:
        d = float(np.clip(rng.normal(1.0 / voice.rate, 0.04), 0.09, 0.4))
        out.append((t, min(d, duration - t), str(rng.choice(list(VOWELS)))))
        t += d
    return out


def speak(duration: float, voice: Voice, sr: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """An utterance of `duration` seconds; returns (audio, envelope) at `sr`."""
    rng = np.random.default_rng(seed)
    n = int(duration * sr)
    t = np.arange(n) / sr
    contour = voice.f0 * (1.1 - 0.2 * t / max(duration, 1e-6))  # declination over the phrase
    contour *= 1 + 0.02 * np.sin(2 * np.pi * voice.vibrato * t)
    audio = np.zeros(n)
    envelope = np.zeros(n)
    for start, dur, vowel in syllables(duration, voice, rng):
        a, b = int(start * sr), min(n, int((start + dur) * sr))
        if b - a < 16:
            continue
        f0 = contour[a:b] * (1 + rng.uniform(-0.06, 0.1))
        seg = _glottal_source(f0, sr, rng) * (1 - voice.breath) + rng.normal(0, voice.breath * 0.3, b - a)
        voiced = np.zeros(b - a)
        for k, (freq, bw) in enumerate(zip(VOWELS[vowel], (80, 100, 140))):
            voiced += _resonator(seg, freq * voice.tract, bw, sr) * (1.0, 0.6, 0.3)[k]
        if rng.random() < 0.5:  # a fricative onset
            burst = int(0.04 * sr)
            noise = _resonator(rng.normal(0, 1, burst), 4500 * voice.tract, 1500, sr) * 0.3
            voiced[:burst] += noise[: len(voiced)]
        m = b - a
        env = np.minimum(1, np.minimum(np.arange(m) / (0.02 * sr), (m - np.arange(m)) / (0.05 * sr)))
        audio[a:b] += voiced * env
        envelope[a:b] = np.maximum(envelope[a:b], env)
    peak = np.abs(audio).max()
    return (audio / peak * 0.5 if peak > 0 else audio), envelope
