"""Shot boundaries: the default detectors against TransNetV2 and combinations of the two, on the clips whose
transitions were labelled by eye (bench/reference/sintel_trailer_shots.json and shot_boundaries.json),
boundary F1 with the scorer of bench/frames.py (a boundary inside a transition's span widened by 2 frames),
each row with the reference changes it missed and the boundaries it added.

- default: content cuts + fades + dissolves + wipes (CPU, the `default` backend)
- transnetv2: TransNetV2 + the fade detector (the `transnetv2` backend)
- transnetv2 + gradual: TransNetV2 for cuts and gradual changes, the default's fade and dissolve detectors too
- union: all four detectors
- default, gradual confirmed: the default's shots, each fade or dissolve boundary kept only where TransNetV2's
  probability reaches 0.2 within its span (widened by 3 frames); cuts as the default found them

The clips: the labelled ones in ../shared/media (dev: the trailer and Big Buck Bunny; check: the rest) and the
montage of bench/shot_montage.py (check: real shots joined by generated cuts, dissolves, wipes and fades).

    .venv/bin/python bench/shot_combinations.py [--default-only]"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "media"
REFERENCES = [ROOT / "bench" / "reference" / "sintel_trailer_shots.json",
              ROOT / "bench" / "reference" / "shot_boundaries.json"]


def references(montage: bool = False) -> list[tuple[str, list[tuple[int, int]]]]:
    """(clip under ../shared/media, or an absolute path, and its (first, last) transitions) of every labelled
    clip; with `montage`, bench/shot_montage.py's montage too (built on first use)."""
    out = []
    trailer = json.loads(REFERENCES[0].read_text())
    out.append(("sintel_trailer/sintel.mp4", [(t["first"], t["last"]) for t in trailer["transitions"]]))
    if REFERENCES[1].exists():
        for clip, spec in json.loads(REFERENCES[1].read_text())["clips"].items():
            out.append((clip, [(t["first"], t["last"]) for t in spec["transitions"]]))
    if montage:
        sys.path.insert(0, str(ROOT / "bench"))
        import shot_montage

        path, transitions = shot_montage.build()
        out.append((str(path), [(t["first"], t["last"]) for t in transitions]))
    return out


def split_of(clip: str) -> str:
    """`dev` for the clips the detectors' rules were chosen on (the trailer, Big Buck Bunny), else `check`."""
    if clip == "sintel_trailer/sintel.mp4" or not REFERENCES[1].exists():
        return "dev"
    return json.loads(REFERENCES[1].read_text())["clips"].get(clip, {}).get("split", "check")


class _Memo:
    """The model with its window predictions remembered: every combination sees the same windows of a clip,
    so TransNetV2 runs once per clip."""

    def __init__(self, model):
        self.model, self.device, self.seen = model, model.device, {}

    def predict_raw(self, batch):
        import hashlib

        key = hashlib.sha1(batch.cpu().numpy().tobytes()).hexdigest()
        if key not in self.seen:
            self.seen[key] = self.model.predict_raw(batch)
        return self.seen[key]


class _Observer:
    """TransNetV2 run beside the default detectors without proposing anything: its per-frame probabilities
    are read afterwards."""

    name = "transnetv2 observer"

    def __init__(self, detector):
        self.detector = detector

    def update(self, signal):
        self.detector.update(signal)
        return []

    def settled_before(self) -> int:
        return 1 << 60

    def finish(self):
        self.detector.finish()
        return []


def confirmed_gradual(path, fps, model, min_probability: float = 0.2, widen: int = 3) -> list[int]:
    """Boundaries of the default detectors, fades and dissolves kept only where TransNetV2 agrees."""
    from animproc.config import FilmConfig
    from animproc.video.scan import DefaultShotDetectors, FrameWriter, scan_film
    from animproc.video.transnet import TransNetV2Detector

    config = FilmConfig()
    observer = _Observer(TransNetV2Detector(model, fps, 0.5, config.shots.black_level, keep_probabilities=True))
    result = scan_film(path, config, fps, FrameWriter(lambda n, b: None),
                       detectors=lambda f: DefaultShotDetectors(config)(f) + [observer])
    probs = observer.detector.probabilities
    kept = []
    for t in result.transitions:
        if t.boundary is None or t.boundary < 1:  # as the shots' starts after the first
            continue
        if t.kind != "cut":
            window = probs[max(0, t.first - widen):t.last + widen + 1]
            if not window or max(window) < min_probability:
                continue
        kept.append(int(t.boundary))
    return kept


def misses_and_extras(reference: list[tuple[int, int]], boundaries: list[int], tolerance: int = 2) -> str:
    """The reference changes no boundary falls near, and the boundaries near no reference change."""
    missed = [r for r in reference if not any(r[0] - tolerance <= b <= r[1] + tolerance for b in boundaries)]
    extra = [b for b in boundaries if not any(r[0] - tolerance <= b <= r[1] + tolerance for r in reference)]
    return f"missed {missed} extra {extra}"


def combinations(model):
    from animproc.config import FilmConfig
    from animproc.video.shots import ContentCutDetector, DissolveDetector, FadeDetector, WipeDetector
    from animproc.video.transnet import TransNetV2Detector

    s = FilmConfig().shots

    def content(fps):
        return ContentCutDetector(fps, ratio=s.cut_threshold, min_score=s.min_cut_score)

    def transnet(fps):
        return TransNetV2Detector(model, fps, 0.5, s.black_level)

    return {
        "default": lambda fps: [content(fps), FadeDetector(fps), DissolveDetector(fps, black_level=s.black_level),
                                WipeDetector(fps, black_level=s.black_level)],
        "transnetv2": lambda fps: [transnet(fps), FadeDetector(fps)],
        "transnetv2 + gradual": lambda fps: [transnet(fps), FadeDetector(fps),
                                             DissolveDetector(fps, black_level=s.black_level)],
        "union": lambda fps: [content(fps), transnet(fps), FadeDetector(fps),
                              DissolveDetector(fps, black_level=s.black_level)],
    }


def main() -> None:
    import argparse

    from animproc.config import FilmConfig
    from animproc.video.evaluate import score_boundaries
    from animproc.video.probe import probe_media
    from animproc.video.scan import FrameWriter, scan_film
    from animproc.video.transnet import load_transnet

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--default-only", action="store_true",
                        help="the default detectors alone (TransNetV2 costs minutes of CPU per clip)")
    args = parser.parse_args()
    model = None if args.default_only else _Memo(load_transnet(device="cpu"))
    totals: dict = {}
    print(f"{'clip':<42}{'detectors':<28}{'precision':>10}{'recall':>8}{'F1':>7}  matched/ref/detected")
    for clip, reference in references(montage=True):
        path = SHARED / clip
        if not path.exists():
            sys.exit(f"benchmark input missing: {path}")
        fps = probe_media(path).fps
        chosen = combinations(model)
        for name, factory in ({"default": chosen["default"]} if model is None else chosen).items():
            result = scan_film(path, FilmConfig(), fps, FrameWriter(lambda n, b: None), detectors=factory)
            score = score_boundaries(reference, [shot.start_frame for shot in result.shots[1:]])
            for key in (name, (split_of(clip), name)):
                t = totals.setdefault(key, [0, 0, 0])
                t[0], t[1], t[2] = t[0] + score.matched, t[1] + score.reference, t[2] + score.detected
            print(f"{clip.split('/')[-1]:<42}{name:<28}{score.precision:>10.3f}{score.recall:>8.3f}{score.f1:>7.3f}"
                  f"  {score.matched}/{score.reference}/{score.detected}   "
                  f"{misses_and_extras(reference, [shot.start_frame for shot in result.shots[1:]])}")
        if model is None:
            continue
        name = "default, gradual confirmed"
        boundaries = confirmed_gradual(path, fps, model)
        score = score_boundaries(reference, boundaries)
        for key in (name, (split_of(clip), name)):
            t = totals.setdefault(key, [0, 0, 0])
            t[0], t[1], t[2] = t[0] + score.matched, t[1] + score.reference, t[2] + score.detected
        print(f"{clip.split('/')[-1]:<42}{name:<28}{score.precision:>10.3f}{score.recall:>8.3f}{score.f1:>7.3f}"
              f"  {score.matched}/{score.reference}/{score.detected}   {misses_and_extras(reference, boundaries)}")
    print()
    for key, (m, r, d) in totals.items():
        label, name = ("pooled", key) if isinstance(key, str) else (f"pooled, {key[0]} clips", key[1])
        p, rec = m / d if d else 1.0, m / r if r else 1.0
        print(f"{label:<42}{name:<28}{p:>10.3f}{rec:>8.3f}{2 * p * rec / (p + rec) if p + rec else 0:>7.3f}"
              f"  {m}/{r}/{d}")


if __name__ == "__main__":
    main()
