"""Pose benchmark: the embedded BlazePose estimator on the characters boxed by eye in ../shared/media clips
(bench/reference/character_boxes.json: Sintel trailer and snow fight, the llama, Tears of Steel), each box
given as a track box would be, at source size and at the motion stage's reduced width (320 px). Per crop mode
(detector crop with the box as fallback = the default; the box alone): boxes with a pose (presence >= 0.5),
mean presence, share of the found poses' visible COCO keypoints (visibility >= 0.5) that fall inside the box
widened by 10 %, and milliseconds per box. There is no keypoint ground truth: `--overlays DIR` draws the
skeletons for checking by eye. Then, on every track of a `motion` scan (faces found on the way, no review) of
three clips: tracks, tracks with at least one pose, pose rows.

    .venv/bin/python bench/pose.py [--overlays /tmp/pose]"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from instances import load_frames  # noqa: E402

LIMBS = ((5, 7), (7, 9), (6, 8), (8, 10), (5, 6), (5, 11), (6, 12), (11, 12), (11, 13), (13, 15), (12, 14),
         (14, 16), (0, 5), (0, 6))


def keypoints_inside(coco: np.ndarray, box: np.ndarray) -> tuple[int, int]:
    x0, y0, x1, y1 = box
    mx, my = 0.1 * (x1 - x0), 0.1 * (y1 - y0)
    seen = coco[coco[:, 2] >= 0.5]
    inside = (seen[:, 0] >= x0 - mx) & (seen[:, 0] <= x1 + mx) & (seen[:, 1] >= y0 - my) & (seen[:, 1] <= y1 + my)
    return int(inside.sum()), len(seen)


def draw(image: np.ndarray, coco: np.ndarray, box: np.ndarray) -> None:
    cv2.rectangle(image, tuple(int(v) for v in box[:2]), tuple(int(v) for v in box[2:]), (0, 255, 255), 1)
    for a, b in LIMBS:
        if coco[a, 2] >= 0.5 and coco[b, 2] >= 0.5:
            cv2.line(image, tuple(int(v) for v in coco[a, :2]), tuple(int(v) for v in coco[b, :2]), (0, 255, 0), 2)
    for x, y, v in coco:
        if v >= 0.5:
            cv2.circle(image, (int(x), int(y)), 3, (0, 0, 255), -1)


def main() -> None:
    from animproc.temporal.pose import BlazePoseEstimator, to_coco17

    parser = argparse.ArgumentParser()
    parser.add_argument("--overlays", type=Path)
    args = parser.parse_args()
    frames = load_frames()
    estimators = {"detector crop (default)": BlazePoseEstimator(), "box crop": BlazePoseEstimator(use_detector=False)}
    print(f"{len(frames)} frames, {sum(len(b) for _, _, b in frames)} boxes boxed by eye\n")
    print(f"{'mode':<26}{'size':>8}{'posed':>8}{'presence':>10}{'kp in box':>11}{'ms/box':>8}")
    for size in ("source", "320 px"):
        for mode, estimator in estimators.items():
            posed = total = inside = seen = 0
            presence, seconds = [], 0.0
            for name, image, boxes in frames:
                scale = 1.0 if size == "source" else 320 / image.shape[1]
                img = image if scale == 1 else cv2.resize(image, (320, round(image.shape[0] * scale)),
                                                          interpolation=cv2.INTER_AREA)
                canvas = img.copy()
                for box in boxes:
                    b = np.array(box, np.float64) * scale
                    started = time.perf_counter()
                    found = estimator(img, [b])[0]
                    seconds += time.perf_counter() - started
                    total += 1
                    presence.append(estimator.last_presence[0])
                    if len(found):
                        posed += 1
                        coco = to_coco17(found)
                        k, n = keypoints_inside(coco, b)
                        inside, seen = inside + k, seen + n
                        draw(canvas, coco, b)
                if args.overlays:
                    args.overlays.mkdir(parents=True, exist_ok=True)
                    tag = f"{mode.split()[0]}_{size.split()[0]}_{name.replace('/', '_').replace('#', '_')}.png"
                    cv2.imwrite(str(args.overlays / tag), canvas)
            print(f"{mode:<26}{size:>8}{f'{posed}/{total}':>8}{np.mean(presence):>10.2f}"
                  f"{(inside / seen if seen else 0):>11.2f}{1000 * seconds / total:>8.1f}")

    on_tracks()


TRACK_CLIPS = ("sintel_snow_fight/clip_03_sintel.mp4", "tos_bridge/clip_01_tears_of_steel.mp4",
               "sintel_trailer/sintel.mp4")


def on_tracks() -> None:
    from animproc.config import FilmConfig
    from animproc.temporal.flow import DisFlow
    from animproc.temporal.motion import scan_motion
    from animproc.temporal.pose import BlazePoseEstimator
    from animproc.video.probe import probe_media
    from animproc.video.scan import FrameWriter, scan_film
    from resources.face_analyzer import FaceAnalyzerResource
    from instances import SHARED

    print(f"\n{'clip':<32}{'shots':>6}{'tracks':>8}{'posed':>7}{'rows':>6}{'seconds':>9}")
    for clip in TRACK_CLIPS:
        path = str(SHARED / clip)
        fps = probe_media(path).fps
        shots = scan_film(path, FilmConfig(), fps, FrameWriter(lambda n, b: None)).shots_table()
        started = time.perf_counter()
        results = scan_motion(path, shots, fps, FilmConfig().temporal, DisFlow(), None,
                              FaceAnalyzerResource().model().detector, BlazePoseEstimator())
        seconds = time.perf_counter() - started
        poses = [p for r in results for p in r.poses]
        print(f"{clip.split('/')[-1]:<32}{len(shots):>6}{sum(len(r.tracks) for r in results):>8}"
              f"{len({p['track_id'] for p in poses}):>7}{len(poses):>6}{seconds:>9.1f}")


if __name__ == "__main__":
    main()
