"""Listening samples of a film's speakers."""
from __future__ import annotations

import io
import wave

import numpy as np
import pandas as pd

from animproc.audio.diarize import SR


def voice_samples(table: pd.DataFrame, wav: np.ndarray, seconds: float = 8.0) -> dict[str, bytes]:
    """Each speaker's most confident non-overlapping speech, up to `seconds`, as 16 kHz WAV bytes."""
    out = {}
    for speaker, rows in table[~table["overlap"]].groupby("speaker"):
        pieces, total = [], 0.0
        for r in rows.sort_values("confidence", ascending=False).itertuples():
            if total >= seconds:
                break
            take = min(r.end - r.start, seconds - total)
            pieces.append(wav[int(r.start * SR):int((r.start + take) * SR)])
            total += take
        pcm = (np.clip(np.concatenate(pieces), -1, 1) * 32767).astype("<i2").tobytes() if pieces else b""
        buf = io.BytesIO()
        with wave.open(buf, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(SR)
            w.writeframes(pcm)
        out[str(speaker)] = buf.getvalue()
    return out
