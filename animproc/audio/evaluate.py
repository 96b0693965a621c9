"""Diarization error rate with pyannote.metrics, and SI-SDR for separation."""
from __future__ import annotations

import numpy as np


def _annotation(turns):
    from pyannote.core import Annotation, Segment

    ann = Annotation()
    for k, (start, end, speaker) in enumerate(turns):
        ann[Segment(start, end), k] = speaker
    return ann


def diarization_error(reference, hypothesis, collar: float = 0.0) -> dict[str, float]:
    """DER and its parts (seconds and rate) for lists of (start, end, speaker)."""
    import warnings

    from pyannote.metrics.diarization import DiarizationErrorRate

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        detail = DiarizationErrorRate(collar=collar, skip_overlap=False)(
            _annotation(reference), _annotation(hypothesis), detailed=True)
    total = detail["total"] or 1.0
    return {"der": float(detail["diarization error rate"]), "total_s": float(detail["total"]),
            "missed_s": float(detail["missed detection"]), "false_alarm_s": float(detail["false alarm"]),
            "confusion_s": float(detail["confusion"]), "missed": float(detail["missed detection"]) / total,
            "false_alarm": float(detail["false alarm"]) / total, "confusion": float(detail["confusion"]) / total}


def si_sdr(estimate: np.ndarray, reference: np.ndarray) -> float:
    """Scale-invariant signal-to-distortion ratio in dB (Le Roux et al., 2019)."""
    n = min(len(estimate), len(reference))
    est, ref = estimate[:n].astype(np.float64), reference[:n].astype(np.float64)
    est, ref = est - est.mean(), ref - ref.mean()
    target = (est @ ref) / (ref @ ref + 1e-12) * ref
    return float(10 * np.log10((target @ target + 1e-12) / ((est - target) @ (est - target) + 1e-12)))
