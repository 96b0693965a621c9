"""`animproc sample-film`: render the synthetic sample film with its ground truth."""
from __future__ import annotations

import time
from pathlib import Path


def cmd_sample_film(args) -> int:
    from animproc.sample.film import render_sample_film

    started = time.perf_counter()
    truth = render_sample_film(args.output)
    out = Path(args.output)
    print(f"wrote {out} ({truth['frame_count']} frames, {truth['duration']:.0f} s, {len(truth['shots'])} shots) "
          f"with ground truth {out.with_suffix('.truth.json')} and {out.with_suffix('.rttm')} "
          f"in {time.perf_counter() - started:.1f} s")
    return 0
