"""Synthetic voices: a source-filter model with a distinct pitch, vocal-tract length, breathiness and
speaking rate per character. No TTS needed.

Source: a Rosenberg glottal pulse on a smooth F0 contour (declination, phrase accents, vibrato, jitter),
plus aspiration noise gated by the glottal cycle. Filter: five formant resonators whose frequencies
glide continuously between the vowel targets of consonant-vowel syllables (5 ms blocks, filter state
carried across blocks), so the result has the formant motion and 4-6 Hz syllable rhythm of speech.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

VOWELS = {  # F1, F2, F3 (Hz), adult male vocal tract (Peterson & Barney 1952)
    "a": (730, 1090, 2440), "e": (530, 1840, 2480), "i": (270, 2290, 3010),
    "o": (570, 840, 2410), "u": (300, 870, 2240), "ae": (660, 1720, 2410), "er": (490, 1350, 1690),
}
BANDWIDTHS = (70, 90, 130, 200, 250)
HIGHER = (3300, 3750)  # F4, F5 (scaled by the tract)


@dataclass(frozen=True)
class Voice:
    f0: float  # mean pitch, Hz
    tract: float  # formant scale: >1 shorter vocal tract (higher formants)
    breath: float  # share of aspiration noise
    rate: float  # syllables per second
    vibrato: float = 5.0  # Hz


def _plan(duration: float, voice: Voice, rng: np.random.Generator):
    """Syllables as (start, consonant length, vowel length, vowel, consonant kind)."""
    out, t = [], 0.0
    while t < duration - 0.12:
        syl = float(np.clip(rng.normal(1.0 / voice.rate, 0.05), 0.12, 0.42))
        syl = min(syl, duration - t)
        cons = float(np.clip(rng.uniform(0.25, 0.4) * syl, 0.03, 0.09))
        kind = str(rng.choice(["fricative", "plosive", "nasal", "none"], p=[0.3, 0.3, 0.25, 0.15]))
        out.append((t, cons, syl - cons, str(rng.choice(list(VOWELS))), kind))
        t += syl
        if rng.random() < 0.12:
            t += float(rng.uniform(0.08, 0.2))  # a short pause between words
    return out


def speak(duration: float, voice: Voice, sr: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """An utterance of `duration` seconds; returns (audio, amplitude envelope) at `sr`."""
    rng = np.random.default_rng(seed)
    n = int(duration * sr)
    t = np.arange(n) / sr
    plan = _plan(duration, voice, rng)
    # Formant targets per 5 ms block, glided by linear interpolation between syllable anchors.
    block = int(0.005 * sr)
    anchor_t, anchor_f = [0.0], [VOWELS["er"]]
    voicing = np.zeros(n)
    noise_gate = np.zeros(n)
    accents = np.zeros(n)
    for start, cons, vow, vowel, kind in plan:
        c0, v0, v1 = int(start * sr), int((start + cons) * sr), min(n, int((start + cons + vow) * sr))
        anchor_t += [start + cons * 0.5, start + cons + vow * 0.5]
        anchor_f += [VOWELS["er"] if kind == "nasal" else anchor_f[-1], VOWELS[vowel]]
        ramp = np.minimum(1, np.minimum(np.arange(v1 - v0) / (0.02 * sr), (v1 - v0 - np.arange(v1 - v0)) / (0.04 * sr)))
        voicing[v0:v1] = np.maximum(voicing[v0:v1], ramp)
        if kind == "nasal":
            voicing[c0:v0] = np.maximum(voicing[c0:v0], 0.35)
        elif kind == "fricative":
            noise_gate[c0:v0] = np.maximum(noise_gate[c0:v0], np.hanning(v0 - c0) * 0.5)
        elif kind == "plosive":
            burst = min(v0 - c0, int(0.015 * sr))
            noise_gate[v0 - burst:v0] = np.maximum(noise_gate[v0 - burst:v0], np.linspace(0.9, 0.2, burst))
        if rng.random() < 0.3:
            accents[v0:v1] = np.maximum(accents[v0:v1], np.hanning(v1 - v0) * rng.uniform(0.08, 0.18))
    anchor_t.append(duration)
    anchor_f.append(anchor_f[-1])
    centres = (np.arange(0, n, block) + block / 2) / sr
    tracks = np.stack([np.interp(centres, anchor_t, [f[k] for f in anchor_f]) for k in range(3)], axis=1)

    f0 = voice.f0 * (1.12 - 0.22 * t / max(duration, 1e-6)) * (1 + accents)
    f0 *= 1 + 0.015 * np.sin(2 * np.pi * voice.vibrato * t) + np.convolve(rng.normal(0, 0.004, n), np.ones(64) / 64, "same")
    phase = np.cumsum(f0 / sr) % 1.0
    open_q = 0.6
    pulse = np.where(phase < open_q, 0.5 * (1 - np.cos(np.pi * phase / open_q)), np.cos(np.pi * (phase - open_q) / (2 * (1 - open_q))))
    source = np.diff(pulse, prepend=pulse[0]) * voicing
    source += rng.normal(0, 1, n) * voice.breath * 0.05 * voicing * (phase < open_q)
    friction = rng.normal(0, 1, n) * noise_gate * 0.08

    out = np.zeros(n)
    for k in range(5):
        states = np.zeros(2)
        fric_state = np.zeros(2)
        for b, start in enumerate(range(0, n, block)):
            stop = min(n, start + block)
            freq = (tracks[b, k] if k < 3 else HIGHER[k - 3]) * voice.tract
            r = np.exp(-np.pi * BANDWIDTHS[k] / sr)
            a = [1.0, -2 * r * np.cos(2 * np.pi * freq / sr), r * r]
            y, states = lfilter([1 - r], a, source[start:stop], zi=states)
            out[start:stop] += y * (1.0, 0.8, 0.5, 0.3, 0.2)[k]
            if k >= 2:
                yf, fric_state = lfilter([1 - r], a, friction[start:stop], zi=fric_state)
                out[start:stop] += yf * 2.0
    envelope = np.maximum(voicing, noise_gate)
    peak = np.abs(out).max()
    return (out / peak * 0.5 if peak > 0 else out), envelope
