"""Per-speaker voice features from diarized speech.

Pitch with pYIN (librosa, 20 ms hop), timbre from MFCCs and spectral shape, speaking rate as the
dominant 2-10 Hz modulation of the loudness envelope (syllables per second; the power spectra of all of a
speaker's turns are summed), loudness dynamics, prosody (F0 range and slope), and an *arousal* estimate. The arousal value is a heuristic, not a trained emotion
model: it combines pitch height, pitch variability, loudness and rate, each ranked against the other
speakers of the same film, so it says who sounds more or less animated here, not what anyone feels.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

SR = 16000
HOP = 160  # 10 ms, for spectral features and the loudness envelope
PITCH_HOP = 320  # 20 ms: pYIN costs a third of the 10 ms hop with the same distribution
MOD_FFT = 2048  # envelope samples (100 Hz): 0.05 Hz resolution
TONE_METHOD = ("heuristic arousal from prosody (pitch level and variability, loudness, speaking rate), "
               "ranked among this film's speakers; not a trained emotion classifier")


def _sample_turns(turns: pd.DataFrame, budget: float) -> list[tuple[float, float]]:
    """Up to `budget` seconds of a speaker's turns, spread over the film."""
    spans = [(float(a), float(b)) for a, b in zip(turns["start"], turns["end"]) if b - a >= 0.3]
    total = sum(b - a for a, b in spans)
    if total <= budget:
        return spans
    keep = max(1, int(len(spans) * budget / total))
    idx = np.linspace(0, len(spans) - 1, keep).round().astype(int)
    return [spans[i] for i in sorted(set(idx))]


def _modulation_power(envelope: np.ndarray) -> np.ndarray:
    env = envelope - envelope.mean()
    return np.abs(np.fft.rfft(env * np.hanning(len(env)), n=MOD_FFT)) ** 2


def _rate_from_modulation(power: np.ndarray) -> float:
    freqs = np.fft.rfftfreq(MOD_FFT, HOP / SR)
    band = (freqs >= 2) & (freqs <= 10)
    return float(freqs[band][np.argmax(power[band])])


def speaker_features(wav: np.ndarray, segments: pd.DataFrame, budget_seconds: float = 60.0) -> pd.DataFrame:
    """One row per speaker; overlapped speech is left out."""
    import librosa

    rows = []
    clean = segments[~segments["overlap"].astype(bool)] if "overlap" in segments else segments
    for speaker, turns in clean.groupby("speaker"):
        f0_all, slopes, mfccs, spec, rms_all, seconds = [], [], [], [], [], 0.0
        modulation = np.zeros(MOD_FFT // 2 + 1)
        for start, end in _sample_turns(turns, budget_seconds):
            y = wav[int(start * SR):int(end * SR)].astype(np.float32)
            if len(y) < 2048:
                continue
            f0, voiced, _ = librosa.pyin(y, fmin=60, fmax=600, sr=SR, frame_length=1024, hop_length=PITCH_HOP)
            times = np.arange(len(f0)) * PITCH_HOP / SR
            keep = voiced & np.isfinite(f0)
            f0, times = f0[keep], times[keep]
            if len(f0) >= 5:
                slopes.append(np.polyfit(times, 12 * np.log2(f0 / 100.0), 1)[0])
                f0_all.append(f0)
            mfccs.append(librosa.feature.mfcc(y=y, sr=SR, n_mfcc=13, hop_length=HOP))
            spec.append(np.vstack([librosa.feature.spectral_centroid(y=y, sr=SR, hop_length=HOP),
                                   librosa.feature.spectral_bandwidth(y=y, sr=SR, hop_length=HOP),
                                   librosa.feature.spectral_rolloff(y=y, sr=SR, hop_length=HOP),
                                   librosa.feature.spectral_flatness(y=y, hop_length=HOP)]))
            rms = librosa.feature.rms(y=y, frame_length=400, hop_length=HOP)[0]
            rms_all.append(librosa.amplitude_to_db(rms, ref=1.0))
            if len(y) >= SR:
                modulation += _modulation_power(rms)
            seconds += len(y) / SR
        if seconds == 0:
            continue
        f0 = np.concatenate(f0_all) if f0_all else np.array([np.nan])
        mf = np.concatenate(mfccs, axis=1)
        sp = np.concatenate(spec, axis=1)
        rms = np.concatenate(rms_all)
        semis = 12 * np.log2(f0 / 100.0)
        row = {
            "speaker": speaker, "analysed_seconds": round(seconds, 2),
            "talk_seconds": round(float((turns["end"] - turns["start"]).sum()), 2),
            "f0_median_hz": float(np.nanmedian(f0)), "f0_mean_hz": float(np.nanmean(f0)),
            "f0_std_hz": float(np.nanstd(f0)), "f0_p05_hz": float(np.nanpercentile(f0, 5)),
            "f0_p95_hz": float(np.nanpercentile(f0, 95)),
            "f0_range_semitones": float(np.nanpercentile(semis, 95) - np.nanpercentile(semis, 5)),
            "f0_slope_semitones_per_s": float(np.median(slopes)) if slopes else float("nan"),
            "speaking_rate_syllables_per_s": _rate_from_modulation(modulation) if modulation.any() else float("nan"),
            "loudness_mean_db": float(rms.mean()), "loudness_std_db": float(rms.std()),
            "loudness_range_db": float(np.percentile(rms, 95) - np.percentile(rms, 5)),
            "spectral_centroid_hz": float(sp[0].mean()), "spectral_bandwidth_hz": float(sp[1].mean()),
            "spectral_rolloff_hz": float(sp[2].mean()), "spectral_flatness": float(sp[3].mean()),
        }
        row.update({f"mfcc_{k:02d}_mean": float(mf[k].mean()) for k in range(13)})
        row.update({f"mfcc_{k:02d}_std": float(mf[k].std()) for k in range(13)})
        rows.append(row)
    table = pd.DataFrame(rows)
    if not table.empty:
        table = _arousal(table)
    return table


def _arousal(table: pd.DataFrame) -> pd.DataFrame:
    cues = ["f0_median_hz", "f0_range_semitones", "loudness_mean_db", "speaking_rate_syllables_per_s"]
    ranks = table[cues].rank(pct=True).fillna(0.5)
    table["arousal"] = ranks.mean(axis=1).round(3)
    table["tone"] = pd.cut(table["arousal"], [-0.01, 0.4, 0.7, 1.01], labels=["calm", "neutral", "animated"]).astype(str)
    table["tone_method"] = TONE_METHOD
    return table
