"""What the structure scan's looks show beyond the largest face, on the labelled clips of
bench/structure_labels.py (its cache: run that first), two measurements of issue 18:

- hands: on every look of a faceless labelled shot (no face on any look), the palms MediaPipe's palm detector
  finds on the picture at the scan's face width (score >= 0.5 where the rule counts them, here >= 0.3 to show
  the near misses) with the hand landmark model's presence flag and the hand's length (wrist to the farthest
  fingertip, in picture heights); then every `--every`-th frame of each clip where the face detector finds no
  face, labelled or not (the unlabelled parts too), and which of them show a confirmed hand (presence >= 0.5);
  and the cost per look.
- closer: on every look that finds a face, the person mask and one BlazePose call on the mask's box (what
  `subject_mask.FacelessSubjects` does on faceless looks), the scale the pose implies where the frame cuts it,
  and each shot with a face (labelled or not) read by `closer_figure` with those poses added to the motion tracks'
  (`face_looks`), with the poses the faceless looks of shots with a face already have (`faceless_looks`), and
  both; the cost per look.
- letterbox: the black bars of each clip (rows whose brightest pixel stays under 24 on every 8th frame), and the
  scale with the motion poses' cut by the frame read against the picture inside the bars (`cut`), and with the
  face ratios over the picture's height inside them too (`cut+faces`).

    .venv/bin/python bench/faceless_looks.py [--hands] [--closer] [--letterbox] [--every 6] [--cache DIR]"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import structure_labels as sl  # noqa: E402


def look_frames(clip: str, indices: set[int] | None, every: int = 0):
    """(frame index, BGR picture at the structure scan's face width) for `indices` (or every `every`-th)."""
    from animproc.config import TemporalConfig
    from animproc.media import analysis_frames, open_media, reduced_bgr, reduced_height

    width = TemporalConfig().analysis_width
    with open_media(sl.SHARED / clip) as container:
        cc = container.streams.video[0].codec_context
        fps = float(container.streams.video[0].average_rate or 24)
        fw = min(cc.width, 3 * width // 2 // 2 * 2)
        fh = reduced_height(cc.width, cc.height, fw)
        due = 0
        for index, frame in analysis_frames(container, fps):
            if indices is not None and index not in indices:
                continue
            if every and index < due:
                continue
            due = index + every
            yield index, reduced_bgr(frame, fw, fh)


def labelled_shots(scanned: dict, spec: dict) -> dict[int, str]:
    """Detected shot id -> the scale label of the reference shot it overlaps most."""
    from animproc.temporal.evaluate import most_overlapping

    shots, out = scanned["shots"], {}
    for ref in spec["shots"]:
        best = most_overlapping(shots, ref["start_frame"], ref["end_frame"]) if "scale" in ref else None
        if best is not None:
            out[int(shots.loc[best].shot_id)] = ref["scale"]
    return out


def hands(labels: dict, cache: Path, every: int) -> None:
    from animproc.temporal.hands import HandFinder

    finder, cost = HandFinder(min_score=0.3), []
    print("hands on the looks of the faceless labelled shots (palm score / presence / length; '-': no palm)")
    for clip, spec in labels.items():
        scanned = sl.scan_clip(clip, False, cache=cache)
        found, labelled = scanned["found"]["after"], labelled_shots(scanned, spec)
        faceless = {sid for sid in labelled if not found[sid]["face_ratios"]}
        frames = {int(i): sid for sid in faceless for i, _, _ in found[sid]["face_looks"]}
        cells: dict[int, list[str]] = {sid: [] for sid in faceless}
        for index, bgr in look_frames(clip, set(frames)):
            t0 = time.perf_counter()
            palms = finder(bgr)
            cost.append(time.perf_counter() - t0)
            best = max(palms, key=lambda h: h.presence, default=None)
            cells[frames[index]].append(f"{best.score:.2f}/{best.presence:.2f}/{best.length:.2f}" if best else "-")
        for sid in sorted(faceless):
            s = scanned["shots"].set_index("shot_id").loc[sid]
            print(f"  {spec['split']:<6}{clip.split('/')[0]:<18}{int(s.start_frame):>5}-{int(s.end_frame):<5}"
                  f"{labelled[sid]:<11}{'; '.join(cells[sid])}")
    print(f"  cost: {1e3 * np.median(cost):.1f} ms a look (median of {len(cost)}; palm detector, then the landmark "
          f"model on each palm)")
    if not every:
        return
    from resources.face_analyzer import FaceAnalyzerResource

    detector, strict = FaceAnalyzerResource().model().detector, HandFinder()
    print(f"\nevery {every}th frame without a face: confirmed hands (palm score >= 0.5, presence >= 0.5)")
    for clip, spec in labels.items():
        refs = [r for r in spec["shots"] if "scale" in r]
        counted, shown = {True: 0, False: 0}, []
        for index, bgr in look_frames(clip, None, every):
            if detector(bgr):
                continue
            ref = next((r for r in refs if r["start_frame"] <= index <= r["end_frame"]), None)
            counted[ref is not None] += 1
            confirmed = [h for h in strict(bgr) if h.presence >= 0.5]
            if confirmed:
                shown.append(f"{index} ({ref['scale'] if ref else 'unlabelled'}): "
                             + ", ".join(f"{h.presence:.2f}/{h.length:.2f}" for h in confirmed))
        print(f"  {spec['split']:<6}{clip.split('/')[0]:<18}faceless frames: {counted[True]} labelled, "
              f"{counted[False]} unlabelled; with a hand (presence/length): {'; '.join(shown) or 'none'}")


def closer(labels: dict, cache: Path) -> None:
    from animproc.config import FilmConfig
    from animproc.temporal.evaluate import COARSE_SCALES
    from animproc.temporal.stages import motion_figures, subject_scale
    from animproc.temporal.structure import pose_frame_scale
    from animproc.temporal.subject_mask import faceless_subjects

    config, subjects, cost = FilmConfig(), faceless_subjects(hands=False), []
    totals: dict = {}
    print("\ncloser figure: person mask + BlazePose on the looks that find a face")
    for clip, spec in labels.items():
        scanned = sl.scan_clip(clip, False, cache=cache)
        found, labelled = scanned["found"]["after"], labelled_shots(scanned, spec)
        poses, boxes = motion_figures(scanned["motion"])
        frames = {int(i): sid for sid, f in found.items() for i, r, _ in f["face_looks"] if r > 0}
        looks: dict[int, list] = {}
        for index, bgr in look_frames(clip, set(frames)):
            t0 = time.perf_counter()
            look = subjects(bgr)
            cost.append(time.perf_counter() - t0)
            looks.setdefault(frames[index], []).append((index, look))
        for sid, f in found.items():
            label = labelled.get(sid)
            if not f["face_ratios"]:
                continue
            on_faces = [(i, look.pose) for i, look in looks.get(sid, []) if look.pose is not None]
            faceless = [int(i) for i, r, _ in f["face_looks"] if r == 0]
            on_faceless = [(i, look.pose) for i, look in zip(faceless, f["subject_looks"]) if look.pose is not None]
            read = {}
            for name, extra in (("default", []), ("face_looks", on_faces), ("faceless_looks", on_faceless),
                                ("both", on_faces + on_faceless)):
                read[name] = COARSE_SCALES[subject_scale(f, [], poses.get(sid, []) + extra, boxes.get(sid, {}),
                                                         config)[0]]
                if label is not None:
                    t = totals.setdefault((spec["split"], name), [0, 0])
                    t[0], t[1] = t[0] + (read[name] == label), t[1] + 1
            s = scanned["shots"].set_index("shot_id").loc[sid]
            implied = [(i, (pose_frame_scale(look.pose, config.temporal, cut_by_frame=True) or ("not cut",))[0]
                        if look.pose is not None else "no pose", round(look.extent.area, 2))
                       for i, look in looks.get(sid, [])]
            if len(set(read.values())) > 1 or (label is not None and read["default"] != label):
                print(f"  {spec['split']:<6}{clip.split('/')[0]:<18}{int(s.start_frame):>5}-{int(s.end_frame):<5}"
                      f"{label or 'unlabelled':<11}{read}  looks (frame, pose scale, mask area): {implied}")
    for (split, name), (right, n) in sorted(totals.items()):
        print(f"  shots with a face, {split}, {name}: {right}/{n}")
    print(f"  cost: {1e3 * np.median(cost):.1f} ms a look (median of {len(cost)}; the mask, and the pose call where "
          f"the mask holds 2% of the picture)")


def letterbox(labels: dict, cache: Path) -> None:
    import copy

    from animproc.config import FilmConfig
    from animproc.temporal.evaluate import coarse_labels, structure_scores
    from animproc.temporal.stages import structure_rows

    print("\nletterbox: faces and the frame's cut against the picture inside black bars")
    for clip, spec in labels.items():
        brightest = np.max([bgr.max(axis=(1, 2)) for _, bgr in look_frames(clip, None, 8)], axis=0)
        bar = brightest < 24
        top, bottom = int(np.argmax(~bar)) / len(bar), 1 - int(np.argmax(~bar[::-1])) / len(bar)
        scanned = sl.scan_clip(clip, False, cache=cache)
        default = sl.rows_for(scanned, "after")
        cells = [f"default {_right(structure_scores(coarse_labels(default), spec['shots']))}"]
        for mode in ("cut", "cut+faces"):
            motion, found = copy.deepcopy(scanned["motion"]), copy.deepcopy(scanned["found"]["after"])
            points = [np.array(json.loads(v)) for v in motion["poses"]["coco17"]]
            for pts in points:
                pts[:, 1] = (pts[:, 1] - top) / (bottom - top)
            motion["poses"]["coco17"] = [json.dumps(pts.tolist()) for pts in points]
            if mode == "cut+faces":
                for f in found.values():
                    f["face_ratios"] = [r / (bottom - top) for r in f["face_ratios"]]
            table = structure_rows("bench", scanned["shots"], found, sl._NothingReviewed(),
                                   float(scanned["probe"]["height"]), [], FilmConfig(), motion)
            changed = [f"{int(a.start_frame)}: {a.scale} -> {b.scale}" for (_, a), (_, b) in
                       zip(default.iterrows(), table.iterrows()) if a.scale != b.scale]
            cells.append(f"{mode} {_right(structure_scores(coarse_labels(table), spec['shots']))}"
                         + (f" ({', '.join(changed)})" if changed else ""))
        print(f"  {spec['split']:<6}{clip.split('/')[0]:<18}bars {top:.3f} / {1 - bottom:.3f}: {'; '.join(cells)}")


def _right(scores: dict) -> str:
    s = scores["scale"]
    return f"{round(s['accuracy'] * s['shots'])}/{s['shots']}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hands", action="store_true")
    parser.add_argument("--closer", action="store_true")
    parser.add_argument("--letterbox", action="store_true")
    parser.add_argument("--every", type=int, default=6, help="the frames sampled for hands (0: none)")
    parser.add_argument("--cache", type=Path, default=sl.CACHE)
    args = parser.parse_args()
    labels = json.loads(sl.LABELS.read_text())["clips"]
    every = not (args.hands or args.closer or args.letterbox)
    if args.hands or every:
        hands(labels, args.cache, args.every)
    if args.closer or every:
        closer(labels, args.cache)
    if args.letterbox or every:
        letterbox(labels, args.cache)


if __name__ == "__main__":
    main()
