"""Shot scale and camera movement against the shots labelled by eye in bench/reference/shot_structure_labels.json
(Sintel trailer, Big Buck Bunny, the llama: the development split; the snow fight and Tears of Steel: kept
aside for checking), coarse classes (scale: close / medium / long / no_subject; camera: static / moving), per
clip and over each split, for the method before issue 18 and the current default:

- scale, before: faces only (what `shot_structure` gave when only it was materialised: every faceless shot
  `no_subject`; a shot shorter than the face interval looked at once); after: faces (at least three looks a
  shot), a tracked figure's pose where it is cut closer than the face, else the figures of the motion tracks
  and their poses, else poses confirmed on the person masks of most faceless looks, else a card or a view.
- scale, no_mask: after, without `temporal.person_mask` and `temporal.faceless_hands` (a shot with no face,
  track or pose is a card or a view).
- scale, no_hands: after, without `temporal.faceless_hands` (the hands the palm detector and hand landmarks
  find on the faceless looks of a shot with no face, track or pose are not used).
- scale, elsewhere: after, with `temporal.faces_from_elsewhere` (a shot's only face, seen at one end with
  another picture's colours, set aside; the shot scaled from its middle).
- camera, before: sparse corners only (`static` at low confidence where too few are found), characters'
  boxes left out; after: the same, with phase correlation on the reduced frame where the corners fail and
  the tracks' boxes (not only faces) left out, `handheld` where no pair aligns but the pictures change, and
  pan and tilt rates also from the shot's one-second windows (`temporal.camera_window_s`).

Each clip is scanned once (shots, the structure scan with faces, motion with tracks and BlazePose poses) and
cached in bench/.cache (`--cache DIR` elsewhere); `--fresh` rescans, `--rescan` redoes only the structure scan.

    .venv/bin/python bench/structure_labels.py [--fresh | --rescan] [--cache DIR]"""
from __future__ import annotations

import argparse
import json
import pickle
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "media"
LABELS = ROOT / "bench" / "reference" / "shot_structure_labels.json"
CACHE = ROOT / "bench" / ".cache" / "structure_labels"


def scan_clip(clip: str, fresh: bool, rescan: bool = False, cache: Path = CACHE) -> dict:
    """Shots, transitions, the structure scan (both camera methods) and the motion product's tables."""
    from animproc.config import FilmConfig
    from animproc.temporal.flow import DisFlow
    from animproc.temporal.motion import scan_motion
    from animproc.temporal.pose import BlazePoseEstimator
    from animproc.temporal.stages import motion_tables, track_boxes
    from animproc.temporal.structure import scan_structure
    from animproc.temporal.subject_mask import faceless_subjects
    from animproc.video.probe import probe_media
    from animproc.video.scan import FrameWriter, scan_film
    from animproc.video.shots import dissolve_ranges
    from resources.face_analyzer import FaceAnalyzerResource

    cached = cache / (clip.replace("/", "_") + ".pkl")
    if cached.exists() and not fresh:
        out = pickle.loads(cached.read_bytes())
        if not rescan:
            return out
        shots, transitions, motion, probe = out["shots"], out["transitions"], out["motion"], out["probe"]
        foreground = {f: [b for _, b in boxes] for f, boxes in track_boxes(motion["tracks"]).items()}
        detector, subjects = FaceAnalyzerResource().model().detector, faceless_subjects()
        out["found"] = {variant: scan_structure(str(SHARED / clip), shots, probe["fps"],
                                                variant_config(variant).temporal, detector, foreground=foreground,
                                                dissolves=dissolve_ranges(transitions),
                                                min_face_looks=face_looks(variant),
                                                find_subjects=subjects if variant == "after" else None)
                        for variant in ("before", "after")}
        cached.write_bytes(pickle.dumps(out))
        return out
    path, config = str(SHARED / clip), FilmConfig()
    probe = probe_media(path)
    scan = scan_film(path, config, probe.fps, FrameWriter(lambda n, b: None))
    shots, transitions = scan.shots_table(), scan.transitions_table()
    detector = FaceAnalyzerResource().model().detector
    dissolves = dissolve_ranges(transitions)
    motion = motion_tables("bench", scan_motion(path, shots, probe.fps, config.temporal, DisFlow(), None, detector,
                                                BlazePoseEstimator(), dissolves=dissolves), "dis")
    foreground = {f: [b for _, b in boxes] for f, boxes in track_boxes(motion["tracks"]).items()}
    subjects = faceless_subjects()
    found = {variant: scan_structure(path, shots, probe.fps, variant_config(variant).temporal, detector,
                                     foreground=foreground, dissolves=dissolves, min_face_looks=face_looks(variant),
                                     find_subjects=subjects if variant == "after" else None)
             for variant in ("before", "after")}
    out = {"shots": shots, "transitions": transitions, "found": found, "motion": motion,
           "probe": {"width": probe.width, "height": probe.height, "fps": probe.fps}}
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_bytes(pickle.dumps(out))
    return out


def face_looks(variant: str) -> int:
    """Before issue 18 a shot shorter than the face interval was looked at once; now at least three times."""
    return 1 if variant == "before" else 3


def variant_config(variant: str):
    from animproc.config import FilmConfig, TemporalConfig

    if variant == "before":
        return FilmConfig(temporal=TemporalConfig(faceless_scale="none", camera_fallback=False, camera_window_s=0))
    if variant == "elsewhere":
        return FilmConfig(temporal=TemporalConfig(faces_from_elsewhere=True))
    if variant == "no_mask":
        return FilmConfig(temporal=TemporalConfig(person_mask=False, faceless_hands=False))
    if variant == "no_hands":
        return FilmConfig(temporal=TemporalConfig(faceless_hands=False))
    return FilmConfig()


VARIANTS = ("before", "no_mask", "no_hands", "after", "elsewhere")  # elsewhere: the default with
# `temporal.faces_from_elsewhere`; no_mask: the default without `temporal.person_mask` and `temporal.faceless_hands`
# (faceless, figureless shots straight to card or view); no_hands: without `temporal.faceless_hands` alone


def rows_for(scanned: dict, variant: str):
    """The structure rows as shot_structure makes them when shots, source_video and motion exist (no review)."""
    import copy

    from animproc.temporal.stages import structure_rows
    from animproc.video.shots import dissolve_ranges

    scan = "before" if variant == "before" else "after"
    return structure_rows("bench", scanned["shots"], copy.deepcopy(scanned["found"][scan]), _NothingReviewed(),
                          float(scanned["probe"]["height"]), dissolve_ranges(scanned["transitions"]),
                          variant_config(variant), scanned["motion"])


class _NothingReviewed:
    faces = None

    def largest_figures(self, frame_height: float) -> dict:
        return {}

    def unconfirmed(self) -> set:
        return set()


def tally(scores: dict, totals: dict, key: tuple) -> list[str]:
    """The "right/shots" cells of `structure_scores`' scale and camera, added to `totals` under (*key, attr)."""
    cells = []
    for attr in ("scale", "camera"):
        s = scores.get(attr)
        right, n = (round(s["accuracy"] * s["shots"]), s["shots"]) if s else (0, 0)
        t = totals.setdefault((*key, attr), [0, 0])
        t[0], t[1] = t[0] + right, t[1] + n
        cells.append(f"{right}/{n}")
    return cells


def main() -> None:
    from animproc.temporal.evaluate import coarse_labels, structure_scores

    parser = argparse.ArgumentParser()
    parser.add_argument("--fresh", action="store_true", help="scan every clip again")
    parser.add_argument("--rescan", action="store_true",
                        help="keep the cached shots and motion, redo the structure scan")
    parser.add_argument("--cache", type=Path, default=CACHE, help=f"the scans' cache folder (default {CACHE})")
    args = parser.parse_args()
    labels = json.loads(LABELS.read_text())["clips"]
    totals: dict = {}
    print(f"{'clip':<42}{'split':>6}{'variant':>10}{'scale':>10}{'camera':>10}")
    for clip, spec in labels.items():
        if not (SHARED / clip).exists():
            sys.exit(f"benchmark input missing: {SHARED / clip}")
        scanned = scan_clip(clip, args.fresh, args.rescan, args.cache)
        for variant in VARIANTS:
            detected = coarse_labels(rows_for(scanned, variant))
            scores = structure_scores(detected, spec["shots"])
            cells = tally(scores, totals, (spec["split"], variant))
            print(f"{clip.split('/')[-1]:<42}{spec['split']:>6}{variant:>10}{cells[0]:>10}{cells[1]:>10}")
            if variant == "after":
                for attr in ("scale", "camera"):
                    if attr in scores:
                        print(f"    {attr} confusion: {scores[attr]['confusion']}")
    print()
    for split in ("dev", "check"):
        for variant in VARIANTS:
            s, c = totals.get((split, variant, "scale"), [0, 0]), totals.get((split, variant, "camera"), [0, 0])
            print(f"{'all ' + split + ' clips':<42}{split:>6}{variant:>10}{f'{s[0]}/{s[1]}':>10}{f'{c[0]}/{c[1]}':>10}")


if __name__ == "__main__":
    main()
