"""Benchmark of the `instances` segmenters on real frames, in one run.

Quality: frames of the ../shared/media clips with every character boxed by eye (bench/reference/
character_boxes.json). For each embedded variant (faces only, foreground regions only, both = the default)
it reports recall of characters (a reference box matched at box IoU >= 0.5 by an instance predicted to be a
character, and by any instance), precision of the character predictions, and the mean best IoU. The minimum
instance area is 2% of the picture so that frames of every size are judged alike.
Speed: frames and instances per second of the default embedded segmenter on CPU (face detection, proposals,
categories, cutouts) over those frames, and the process's peak RSS. On a CUDA machine also the SAM2 backend
(random-weight SAM2.1 tiny built from the package config; speed only: random weights say nothing of quality).

Usage: python bench/instances.py [--threads N] [--segment-threads N]

`--segment-threads N` cuts N frames at once (as the `instances` step does with ANIMPROC_SEGMENTER_THREADS;
faces are detected one frame at a time): the figures must not change, the speed is then wall-clock speed.
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "media"
REFERENCE = ROOT / "bench" / "reference" / "character_boxes.json"


def load_frames() -> list[tuple[str, np.ndarray, list[list[int]]]]:
    ref = json.loads(REFERENCE.read_text())
    wanted: dict[str, dict[int, list]] = {}
    for f in ref["frames"]:
        wanted.setdefault(f["clip"], {})[f["frame"]] = f["boxes"]
    out = []
    for clip, frames in wanted.items():
        path = SHARED / clip
        if not path.exists():
            sys.exit(f"benchmark input missing: {path}")
        with av.open(str(path)) as c:
            for i, frame in enumerate(c.decode(video=0)):
                if i in frames:
                    out.append((f"{clip}#{i}", frame.to_ndarray(format="bgr24"), frames[i]))
                if i >= max(frames):
                    break
    return out


def evaluate(name: str, segmenter, frames, detector) -> dict:
    from animproc.image.boxes import box_iou
    from animproc.instances.extract import extract_instances
    from animproc.instances.segment import content_box
    from animproc.threads import ordered_map

    matched_char = matched_any = total = 0
    char_preds = char_hits = 0
    best_ious = []
    started = time.perf_counter()
    n_instances = 0

    def cut(job):
        image, faces = job
        x0, y0, x1, y1 = content_box(image)
        return extract_instances(image, segmenter(image, faces), faces, int(0.02 * (x1 - x0) * (y1 - y0)), 0.15)

    detected = ((image, detector(image)) for _, image, _ in frames)
    for (_, _, boxes), found in zip(frames, ordered_map(cut, detected, segmenter.threads)):
        n_instances += len(found)
        pred = [((i.box[0], i.box[1], i.box[0] + i.box[2], i.box[1] + i.box[3]), i.prediction.category) for i in found]
        for b in boxes:
            total += 1
            ious_any = [box_iou(b, p) for p, _ in pred]
            ious_char = [box_iou(b, p) for p, c in pred if c == "character"]
            best_ious.append(max(ious_any, default=0.0))
            matched_any += max(ious_any, default=0) >= 0.5
            matched_char += max(ious_char, default=0) >= 0.5
        for p, c in pred:
            if c == "character":
                char_preds += 1
                char_hits += any(box_iou(b, p) >= 0.5 for b in boxes)
    seconds = time.perf_counter() - started
    return {"variant": name, "reference_characters": total,
            "recall_as_character": round(matched_char / total, 3), "recall_any_instance": round(matched_any / total, 3),
            "character_precision": round(char_hits / char_preds, 3) if char_preds else None,
            "mean_best_iou": round(float(np.mean(best_ious)), 3), "instances": n_instances,
            "frames_per_second": round(len(frames) / seconds, 2), "instances_per_second": round(n_instances / seconds, 2)}


def sam2_gpu(frames) -> dict:
    import torch

    if not torch.cuda.is_available():
        return {"variant": "sam2 (random-weight tiny, CUDA)", "skipped": "no CUDA device on this machine"}
    import tempfile

    from hydra import initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    if not GlobalHydra.instance().is_initialized():
        initialize_config_module("sam2", version_base=None)
    from sam2.build_sam import build_sam2

    from animproc.instances.segment import Sam2Segmenter

    cfg = "configs/sam2.1/sam2.1_hiera_t.yaml"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sam2_tiny_random.pt"
        torch.save({"model": build_sam2(cfg, None, device="cpu").state_dict()}, path)
        seg = Sam2Segmenter(cfg, str(path), device="cuda", points_per_side=20)
    seg(frames[0][1], [])  # warm-up: kernels and allocator
    torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    masks = sum(len(seg(image, [])) for _, image, _ in frames)
    torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    return {"variant": "sam2 (random-weight tiny, CUDA, 20 points per side)", "device": torch.cuda.get_device_name(),
            "frames_per_second": round(len(frames) / seconds, 2), "masks": masks,
            "peak_gpu_memory_mib": round(torch.cuda.max_memory_allocated() / 2**20)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=0, help="OpenCV threads (0: OpenCV's default)")
    parser.add_argument("--segment-threads", type=int, default=1, help="frames segmented at once (default 1)")
    args = parser.parse_args()
    import cv2

    if args.threads:
        cv2.setNumThreads(args.threads)
    from animproc.instances.segment import EmbeddedSegmenter
    from resources.face_analyzer import FaceAnalyzerResource

    frames = load_frames()
    detector = FaceAnalyzerResource().model().detector  # ANIMPROC_FACE_ANALYZER picks it, as in the assets
    detector(frames[0][1])  # load the face model before timing
    n = args.segment_threads
    rows = [evaluate("embedded: faces only", EmbeddedSegmenter(use_foreground=False, threads=n), frames, detector),
            evaluate("embedded: foreground regions only", EmbeddedSegmenter(use_faces=False, threads=n), frames,
                     detector),
            evaluate("embedded: both (default)", EmbeddedSegmenter(threads=n), frames, detector)]
    rows.append(sam2_gpu(frames))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"frames": len(frames), "segment_threads": n, "peak_rss_mib": round(peak), "results": rows},
                     indent=1))


if __name__ == "__main__":
    main()
