"""The instance stages of a film, from the kept frames to filled cutouts: each reads its inputs through a
`FilmProducts` reader and writes one product through its `ProductWriter`."""
from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import PurePosixPath

import numpy as np
import pandas as pd

from animproc.catalogue import FilmProducts, ProductWriter
from animproc.config import FilmConfig
from animproc.image.faces import detector_key, faces_json
from animproc.image.masks import decode_rle, soft_alpha
from animproc.image.preview import encode_image, read_image
from animproc.instances.extract import extract_instances, frame_overlay
from animproc.instances.filtering import apply_instance_review
from animproc.instances.inpaint import Inpainter, fill_occlusion, occluded_region, occlusion_ratio
from animproc.progress import NO_PROGRESS, Progress
from animproc.review.labels import Review
from animproc.threads import ordered_map
from animproc.video.decode import read_frames

COLUMNS = ["instance_id", "film", "frame_index", "time", "shot_id", "frame_path", "cutout_path", "overlay_path",
           "instance_index", "bbox_x", "bbox_y", "bbox_w", "bbox_h", "area", "mask_rle", "mask_height", "mask_width",
           "segment_score", "source", "category", "category_score", "face_score", "evidence"]
DETECTION_COLUMNS = ["frame_index", "detector", "faces"]


def _png(image: np.ndarray) -> bytes:
    return encode_image(image, ".png")


def mask_of(row) -> np.ndarray:
    return decode_rle({"size": [row.mask_height, row.mask_width], "counts": row.mask_rle})


@dataclass
class FrameCut:
    """One kept frame segmented, its images already encoded (what is held while earlier frames finish is
    bytes, not frame-size masks)."""

    records: list[dict]
    overlay: bytes
    cutouts: list[bytes]
    seconds: float


def cut_frame(image: np.ndarray, faces: list, segment, config: FilmConfig) -> FrameCut:
    """The frame's instances (`segment` seeded by `faces`), their records, cutouts and the frame's overlay."""
    t = time.perf_counter()
    found = extract_instances(image, segment(image, faces), faces, config.instances.min_area,
                              config.instances.alpha_threshold)
    seconds = time.perf_counter() - t
    return FrameCut([inst.record() for inst in found], encode_image(frame_overlay(image, found)),
                    [_png(inst.rgba(image)) for inst in found], seconds)


def segment_frames(frames: pd.DataFrame, products: FilmProducts, out: ProductWriter, segment, detect_faces,
                   config: FilmConfig, progress: Progress = NO_PROGRESS
                   ) -> tuple[pd.DataFrame, list[int], float, pd.DataFrame]:
    """Every instance in the kept `frames`: cutouts and one overlay per frame written to `out`. Returns the
    table, the instance count per frame, the seconds spent detecting and segmenting (summed over frames), and
    the faces found on every frame (`face_detections`: the `faces` step reuses them instead of detecting
    again). Faces are detected here, one frame at a time (the detector's network is one object); the frames
    are cut on `segment.threads` threads where the segmenter has them (`EmbeddedSegmenter`: its GrabCuts),
    a few frames ahead, and written in frame order, so the products do not depend on the thread count."""
    rows: list[dict] = []
    detections: list[dict] = []
    detector = detector_key(detect_faces)
    per_frame: list[int] = []
    seconds = 0.0

    def detected(frame):
        nonlocal seconds
        image = read_image(products.resolve(frame.path))
        t = time.perf_counter()
        faces = detect_faces(image)
        seconds += time.perf_counter() - t
        detections.append({"frame_index": int(frame.frame_index), "detector": detector, "faces": faces_json(faces)})
        return frame, image, faces

    def cut(job) -> tuple:
        frame, image, faces = job
        return frame, cut_frame(image, faces, segment, config)

    task = progress.task("segment", len(frames), "frames")
    jobs = map(detected, frames.itertuples())
    for k, (frame, done) in enumerate(ordered_map(cut, jobs, getattr(segment, "threads", 1))):
        seconds += done.seconds
        stem = PurePosixPath(frame.path).stem
        overlay = out.blob(f"overlays/{stem}.jpg", done.overlay)
        for record, png in zip(done.records, done.cutouts):
            iid = f"{stem}_{record['instance_index']:02d}"
            rows.append({"instance_id": iid, "film": out.film, "frame_index": int(frame.frame_index),
                         "time": float(frame.time), "shot_id": int(frame.shot_id), "frame_path": frame.path,
                         "cutout_path": out.blob(f"cutouts/{iid}.png", png), "overlay_path": overlay, **record})
        per_frame.append(len(done.records))
        task.update(k + 1)
    task.finish()
    return (pd.DataFrame(rows, columns=COLUMNS), per_frame, seconds,
            pd.DataFrame(detections, columns=DETECTION_COLUMNS))


def keep_reviewed(table: pd.DataFrame, review: Review, out: ProductWriter,
                  progress: Progress = NO_PROGRESS) -> tuple[pd.DataFrame, dict]:
    """The instances the review kept, their cutouts copied to `out`, with every decision written beside them.
    `progress` hears of the cutouts copied."""
    decided, stats = apply_instance_review(table, review)
    kept = decided[decided["kept"]].copy()
    kept["source_cutout_path"] = kept["cutout_path"]
    task = progress.task("cutouts", len(kept), "instances")
    copied = []
    for iid, path in zip(kept["instance_id"], kept["source_cutout_path"]):
        copied.append(out.copy(path, f"cutouts/{iid}.png"))
        task.advance()
    task.finish()
    kept["cutout_path"] = copied
    out.table("instances", kept)
    decisions = decided[["instance_id", "category", "category_reviewed", "review_keep", "kept", "decided_by"]]
    out.json("decisions", {"film": out.film, "statistics": stats, "decisions": decisions.to_dict(orient="records")})
    return kept, stats


def neighbour_indices(frame_index: int, start: int, end: int, window: int) -> list[int]:
    """The neighbour frames a fill looks at: a third, two thirds and all of `window` either side, in the shot."""
    steps = sorted({max(1, round(window * f)) for f in (1 / 3, 2 / 3, 1)}) if window else []
    return [i for d in steps for i in (frame_index - d, frame_index + d) if start <= i <= end]


def stream_fill(video, wanted: dict[int, list[int]], fill_frame) -> None:
    """One decode pass over the neighbour frames; each target frame is filled as soon as its last neighbour
    has been decoded, and frames no remaining target needs are dropped (memory bounded by the window)."""
    pending = sorted(wanted)
    buffer: dict[int, np.ndarray] = {}
    needed = {i for v in wanted.values() for i in v}
    for f in [f for f in pending if not wanted[f]]:
        fill_frame(f, [])
    pending = [f for f in pending if wanted[f]]
    for index, image in read_frames(video, needed):
        buffer[index] = image
        while pending and max(wanted[pending[0]]) <= index:
            f = pending.pop(0)
            fill_frame(f, [buffer[i] for i in wanted[f] if i in buffer])
            keep_from = min((min(wanted[p]) for p in pending), default=index + 1)
            buffer = {i: b for i, b in buffer.items() if i >= keep_from}
    for f in pending:  # the video ended before some neighbours
        fill_frame(f, [buffer[i] for i in wanted[f] if i in buffer])


class OcclusionPlan:
    """Which kept instances are occluded above the threshold, by which other instances of their frame, and the
    neighbour frames each of their frames is filled from. Masks are decoded one frame at a time (`frame_masks`)
    and dropped after it: a film's frame-size masks held together were most of the step's memory at 1080p."""

    def __init__(self, kept: pd.DataFrame, everything: pd.DataFrame, shots: pd.DataFrame, threshold: float,
                 window: int):
        occluders = everything[everything["category"] != "background"]
        self.rows = {r.instance_id: r for r in occluders.itertuples()}
        for r in kept.itertuples():
            self.rows.setdefault(r.instance_id, r)
        self.by_frame = defaultdict(list)
        for r in occluders.itertuples():
            self.by_frame[r.frame_index].append(r.instance_id)
        self.ratios, self.needs, self.regions = {}, defaultdict(list), {}
        for f, rows in kept.groupby("frame_index", sort=False):
            masks = self.frame_masks(f, rows["instance_id"])
            for r in rows.itertuples():
                region = occluded_region(masks[r.instance_id], self.others(masks, f, r.instance_id))
                self.ratios[r.instance_id] = occlusion_ratio(masks[r.instance_id], region)
                if self.ratios[r.instance_id] > threshold:
                    self.needs[r.frame_index].append(r)
                    self.regions[r.instance_id] = region
        shots = shots.set_index("shot_id")
        self.wanted = {f: neighbour_indices(f, int(shots.loc[rows[0].shot_id, "start_frame"]),
                                            int(shots.loc[rows[0].shot_id, "end_frame"]), window)
                       for f, rows in self.needs.items()}

    def frame_masks(self, frame_index: int, also=()) -> dict[str, np.ndarray]:
        """The frame-size masks of the frame's occluders and of the instances `also` names."""
        return {i: mask_of(self.rows[i]) for i in dict.fromkeys([*self.by_frame[frame_index], *also])}

    def others(self, masks: dict[str, np.ndarray], frame_index: int, instance_id: str) -> list[np.ndarray]:
        return [masks[o] for o in self.by_frame[frame_index] if o != instance_id]


def _filled_cutout(res, box: tuple[int, int, int, int], alpha_threshold: float) -> np.ndarray:
    """The filled RGBA cutout over the instance's box grown to what the fill added."""
    x, y, w, h = box
    ys, xs = np.nonzero(res.alpha_mask)
    x0, y0, x1, y1 = min(x, xs.min()), min(y, ys.min()), max(x + w, xs.max() + 1), max(y + h, ys.max() + 1)
    alpha = soft_alpha(res.alpha_mask, alpha_threshold)
    return np.dstack([res.image[y0:y1, x0:x1], (alpha[y0:y1, x0:x1] * 255).round().astype(np.uint8)])


def inpaint_instances(kept: pd.DataFrame, plan: OcclusionPlan, products: FilmProducts, out: ProductWriter,
                      painter: Inpainter, prompt: str | None, config: FilmConfig,
                      progress: Progress = NO_PROGRESS) -> pd.DataFrame:
    """Fill the occluded instances of `plan` (neighbour frames decoded from the source in one pass, then the
    inpainter), copy the others, and write the table with the occlusion ratio and fill method per instance."""
    c = config.instances
    results: dict[str, tuple[str, int]] = {}
    task = progress.task("fill", sum(len(v) for v in plan.needs.values()), "instances")

    def fill_frame(f: int, neighbours: list[np.ndarray]) -> None:
        image = read_image(products.resolve(plan.needs[f][0].frame_path))
        masks = plan.frame_masks(f, [r.instance_id for r in plan.needs[f]])
        for r in plan.needs[f]:
            own = masks[r.instance_id]
            res = fill_occlusion(image, own, plan.others(masks, f, r.instance_id), neighbours, painter,
                                 c.occlusion_threshold, prompt, plan.regions[r.instance_id])
            box = (int(r.bbox_x), int(r.bbox_y), int(r.bbox_w), int(r.bbox_h))
            out.blob(f"cutouts/{r.instance_id}.png", _png(_filled_cutout(res, box, c.alpha_threshold)))
            results[r.instance_id] = (res.method, int((res.alpha_mask & ~own).sum()))
            task.advance()

    source = products.source_media()
    if plan.needs:
        with products.storage.local_copy(source) as local:
            stream_fill(local, plan.wanted, fill_frame)
    task.finish()
    table = kept.copy()
    table["filtered_cutout_path"] = table["cutout_path"]
    table["cutout_path"] = [out.relative(f"cutouts/{i}.png") if i in results else out.copy(p, f"cutouts/{i}.png")
                            for i, p in zip(table["instance_id"], table["filtered_cutout_path"])]
    table["occlusion_ratio"] = [round(plan.ratios[i], 4) for i in table["instance_id"]]
    table["fill_method"] = [results.get(i, ("none", 0))[0] for i in table["instance_id"]]
    table["filled_pixels"] = [results.get(i, ("none", 0))[1] for i in table["instance_id"]]
    out.table("instances", table)
    return table


def per_frame_summary(per_frame: list[int]) -> dict:
    return {"mean": round(float(np.mean(per_frame)), 2) if per_frame else 0.0, "max": int(max(per_frame, default=0)),
            "frames_without_instances": int(sum(n == 0 for n in per_frame))}

