"""The robust spread of a series: the scaled median absolute deviation, an estimate of the standard deviation that a
few outliers (a flow spike, a stray face, a shaking pair) do not move. Thresholds set relative to a series' own
level (flow spikes, a cluster's members, a camera's jitter) use it, so one burst does not raise its own bar."""
from __future__ import annotations

import numpy as np

MAD_TO_SIGMA = 1.4826  # the MAD of normally distributed values times this is their standard deviation


def scaled_mad(values, center: float | None = None) -> float:
    """1.4826 x the median of |values - center| (center: the values' median unless given)."""
    values = np.asarray(values)
    center = float(np.median(values)) if center is None else center
    return MAD_TO_SIGMA * float(np.median(np.abs(values - center)))
