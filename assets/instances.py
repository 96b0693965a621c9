"""Character instances, partitioned by film: instances -> (review gate: instance_review) -> instances_filtered
-> instances_inpainted."""
import json
import time
from collections import Counter, defaultdict
from pathlib import PurePosixPath

import cv2
import numpy as np
import pandas as pd
from dagster import AssetExecutionContext, AssetSpec, Failure, MaterializeResult, MetadataValue, asset

from animproc.errors import AnimprocError
from animproc.image.masks import decode_rle, soft_alpha
from animproc.image.preview import contact_sheet, encode_image, markdown_image, on_checkerboard, read_image
from animproc.instances.extract import extract_instances, frame_overlay
from animproc.instances.filtering import apply_instance_review
from animproc.instances.inpaint import fill_occlusion, occluded_region, occlusion_ratio, prompt_for
from animproc.library import source_path
from animproc.review.labels import auto_instance_review, load_review, write_auto_review
from animproc.video.decode import read_frames
from assets import fail
from assets.versioning import content_versioned
from partitions import film_partitions
from resources.face_analyzer import FaceAnalyzerResource
from resources.film_config import FilmConfigResource
from resources.inpainter import InpainterResource
from resources.placement import step_pool, step_tags
from resources.segmenter import SegmenterResource
from resources.storage import StorageResource

GROUP = "visual"
COLUMNS = ["instance_id", "film", "frame_index", "time", "shot_id", "frame_path", "cutout_path", "overlay_path",
           "instance_index", "bbox_x", "bbox_y", "bbox_w", "bbox_h", "area", "mask_rle", "mask_height", "mask_width",
           "segment_score", "source", "category", "category_score", "face_score", "evidence"]


def _png(image: np.ndarray) -> bytes:
    return encode_image(image, ".png")


def _example_grid(st, paths: list[str], labels: list[str], limit: int = 18) -> str:
    if not paths:
        return "no instances"
    picks = np.linspace(0, len(paths) - 1, min(limit, len(paths))).astype(int)
    images = [on_checkerboard(read_image(st.resolve(paths[i]), cv2.IMREAD_UNCHANGED)) for i in picks]
    return markdown_image(encode_image(contact_sheet(images, [labels[i] for i in picks], thumb_width=120)),
                          alt="instances")


@asset(partitions_def=film_partitions, group_name=GROUP, code_version="1", deps=["frames_processed"], kinds={"parquet", "png"},
       op_tags=step_tags("instances"), pool=step_pool("instances"),
       description="Every character (and other object) instance in every kept frame: RGBA cutout with soft alpha, "
                   "COCO RLE mask, box, area, source frame / time / shot, predicted category with a score, and an "
                   "overlay per frame. With `review: auto` the predicted categories are also written as the review.")
@content_versioned
def instances(context: AssetExecutionContext, storage: StorageResource, film_config: FilmConfigResource,
              segmenter: SegmenterResource, face_analyzer: FaceAnalyzerResource) -> MaterializeResult:
    film = context.partition_key
    st = storage.storage()
    config, _ = film_config.load(film)
    try:
        seg = segmenter.model(config)
        detector = face_analyzer.model(config).detector
    except AnimprocError as exc:
        raise fail(exc) from None
    frames = st.read_parquet(st.asset_dir(film, "frames_processed") / "manifest.parquet")
    frames = frames[frames["kept"]]
    started, seconds_segmenting = time.perf_counter(), 0.0
    rows: list[dict] = []
    per_frame: list[int] = []
    with st.publish_dir(film, "instances") as out:
        for k, frame in enumerate(frames.itertuples()):
            image = read_image(st.resolve(frame.path))
            t = time.perf_counter()
            faces = detector(image)
            found = extract_instances(image, seg(image, faces), faces, config.instances.min_area,
                                      config.instances.alpha_threshold)
            seconds_segmenting += time.perf_counter() - t
            stem = PurePosixPath(frame.path).stem
            for inst in found:
                iid = f"{stem}_{inst.index:02d}"
                st.write_bytes(out / "cutouts" / f"{iid}.png", _png(inst.rgba(image)))
                rows.append({"instance_id": iid, "film": film, "frame_index": int(frame.frame_index),
                             "time": float(frame.time), "shot_id": int(frame.shot_id), "frame_path": frame.path,
                             "cutout_path": f"{film}/instances/cutouts/{iid}.png",
                             "overlay_path": f"{film}/instances/overlays/{stem}.jpg", **inst.record()})
            st.write_bytes(out / "overlays" / f"{stem}.jpg", encode_image(frame_overlay(image, found)))
            per_frame.append(len(found))
            if k % 20 == 0:
                context.log.info(f"segmented {k + 1} of {len(frames)} frames, {len(rows)} instances")
        table = pd.DataFrame(rows, columns=COLUMNS)
        st.write_parquet(out / "instances.parquet", table)
    grid = _example_grid(st, list(table["cutout_path"]),
                         [f"{c} {s:.2f}" for c, s in zip(table["category"], table["category_score"])])
    predicted = dict(zip(table["instance_id"], table["category"]))
    review_version = write_auto_review(st, auto_instance_review(film, predicted)) if config.review == "auto" else None
    return MaterializeResult(metadata={
        "instances": len(table), "frames": len(frames), "segmenter": seg.name,
        "by_category": MetadataValue.json(dict(Counter(table["category"]))),
        "per_frame": MetadataValue.json({"mean": round(float(np.mean(per_frame)), 2) if per_frame else 0.0,
                                         "max": int(max(per_frame, default=0)),
                                         "frames_without_instances": int(sum(n == 0 for n in per_frame))}),
        "min_area": config.instances.min_area, "alpha_threshold": config.instances.alpha_threshold,
        "review": config.review if review_version is None else f"auto (review version {review_version})",
        "retries": MetadataValue.json(getattr(seg, "retries", [])),
        "examples": MetadataValue.md(grid),
        "seconds": round(time.perf_counter() - started, 2),
        "seconds_per_frame": round(seconds_segmenting / max(1, len(frames)), 3),
    })


instance_review = AssetSpec(
    "instance_review", partitions_def=film_partitions, group_name=GROUP, code_version="1", deps=["instances"],
    description="The person's (or auto mode's) decisions on a film's instances: "
                "`{root}/{film}/reviews/instances.json`, written by `animproc review instances NAME`. "
                "Observed by the review sensor, which then runs the assets downstream.")


@asset(partitions_def=film_partitions, group_name=GROUP, code_version="1", deps=["instances", "instance_review"],
       op_tags=step_tags("instances_filtered"), pool=step_pool("instances_filtered"),
       kinds={"parquet", "png"},
       description="The character instances the review kept (category character after review), with a JSON of "
                   "every decision and statistics.")
@content_versioned
def instances_filtered(context: AssetExecutionContext, storage: StorageResource,
                       film_config: FilmConfigResource) -> MaterializeResult:
    film = context.partition_key
    st = storage.storage()
    config, _ = film_config.load(film)
    table = st.read_parquet(st.asset_dir(film, "instances") / "instances.parquet")
    try:
        review = load_review(st, film, "instances")
    except AnimprocError as exc:
        raise fail(exc) from None
    if review is None or not review.submitted:
        if config.review != "auto":
            raise Failure(description=f"the instances of film {film!r} are not reviewed yet: run "
                                      f"`animproc review instances {film}` and finish the review", allow_retries=False)
        review = auto_instance_review(film, dict(zip(table["instance_id"], table["category"])))
    decided, stats = apply_instance_review(table, review)
    if stats["decisions_for_unknown_instances"]:
        context.log.warning(f"{stats['decisions_for_unknown_instances']} review decisions name instances that no "
                            "longer exist (instances were re-materialised after the review)")
    kept = decided[decided["kept"]].copy()
    with st.publish_dir(film, "instances_filtered") as out:
        new_paths = []
        for iid, path in zip(kept["instance_id"], kept["cutout_path"]):
            st.copy(st.resolve(path), out / "cutouts" / f"{iid}.png")
            new_paths.append(f"{film}/instances_filtered/cutouts/{iid}.png")
        kept["source_cutout_path"] = kept["cutout_path"]
        kept["cutout_path"] = new_paths
        st.write_parquet(out / "instances.parquet", kept)
        decisions = decided[["instance_id", "category", "category_reviewed", "review_keep", "kept", "decided_by"]]
        st.write_text(out / "decisions.json", json.dumps({"film": film, "statistics": stats,
                                                          "decisions": decisions.to_dict(orient="records")}, indent=1))
    grid = _example_grid(st, list(kept["cutout_path"]), list(kept["instance_id"]))
    return MaterializeResult(metadata={
        "kept": stats["kept"], "instances": stats["instances"], "discarded": stats["discarded"],
        "decided_by": MetadataValue.json(stats["decided_by"]), "recategorised": stats["recategorised"],
        "review_version": review.version, "examples": MetadataValue.md(grid),
    })


def _neighbour_indices(frame_index: int, start: int, end: int, window: int) -> list[int]:
    steps = sorted({max(1, round(window * f)) for f in (1 / 3, 2 / 3, 1)}) if window else []
    return [i for d in steps for i in (frame_index - d, frame_index + d) if start <= i <= end]


@asset(partitions_def=film_partitions, group_name=GROUP, code_version="1", deps=["instances_filtered", "shots"],
       op_tags=step_tags("instances_inpainted"), pool=step_pool("instances_inpainted"),
       kinds={"parquet", "png"},
       description="Kept character instances with occluded parts filled: from neighbouring frames of the same shot "
                   "(homography-aligned) first, then the inpainter; only above the film's occlusion threshold. "
                   "Records the occlusion ratio and the method per instance.")
@content_versioned
def instances_inpainted(context: AssetExecutionContext, storage: StorageResource, film_config: FilmConfigResource,
                        inpainter: InpainterResource) -> MaterializeResult:
    film = context.partition_key
    st = storage.storage()
    config, _ = film_config.load(film)
    c = config.instances
    try:
        painter = inpainter.model(config)
        prompts = inpainter.prompts(film)
    except AnimprocError as exc:
        raise fail(exc) from None
    kept = st.read_parquet(st.asset_dir(film, "instances_filtered") / "instances.parquet")
    named = _character_names(st, film)
    everything = st.read_parquet(st.asset_dir(film, "instances") / "instances.parquet")
    shots = st.read_parquet(st.asset_dir(film, "shots") / "shots.parquet").set_index("shot_id")
    occluders = everything[everything["category"] != "background"]
    masks = {r.instance_id: decode_rle({"size": [r.mask_height, r.mask_width], "counts": r.mask_rle})
             for r in occluders.itertuples()}
    for r in kept.itertuples():
        masks.setdefault(r.instance_id, decode_rle({"size": [r.mask_height, r.mask_width], "counts": r.mask_rle}))
    by_frame = defaultdict(list)
    for r in occluders.itertuples():
        by_frame[r.frame_index].append(r.instance_id)
    ratios, needs, regions = {}, defaultdict(list), {}
    for r in kept.itertuples():
        others = [masks[o] for o in by_frame[r.frame_index] if o != r.instance_id]
        region = occluded_region(masks[r.instance_id], others)
        ratios[r.instance_id] = occlusion_ratio(masks[r.instance_id], region)
        if ratios[r.instance_id] > c.occlusion_threshold:
            needs[r.frame_index].append(r)
            regions[r.instance_id] = region
    wanted = {f: _neighbour_indices(f, int(shots.loc[rows[0].shot_id, "start_frame"]),
                                    int(shots.loc[rows[0].shot_id, "end_frame"]), c.temporal_window)
              for f, rows in needs.items()}
    started = time.perf_counter()
    results: dict[str, tuple[str, float, int]] = {}
    with st.publish_dir(film, "instances_inpainted") as out:
        def fill_frame(f: int, neighbours: list[np.ndarray]) -> None:
            image = read_image(st.resolve(needs[f][0].frame_path))
            for r in needs[f]:
                others = [masks[o] for o in by_frame[f] if o != r.instance_id]
                res = fill_occlusion(image, masks[r.instance_id], others, neighbours, painter, c.occlusion_threshold,
                                     prompt_for(prompts, named.get(r.instance_id)), regions[r.instance_id])
                x, y, w, h = int(r.bbox_x), int(r.bbox_y), int(r.bbox_w), int(r.bbox_h)
                ys, xs = np.nonzero(res.alpha_mask)
                x0, y0, x1, y1 = min(x, xs.min()), min(y, ys.min()), max(x + w, xs.max() + 1), max(y + h, ys.max() + 1)
                alpha = soft_alpha(res.alpha_mask, c.alpha_threshold)
                rgba = np.dstack([res.image[y0:y1, x0:x1], (alpha[y0:y1, x0:x1] * 255).round().astype(np.uint8)])
                st.write_bytes(out / "cutouts" / f"{r.instance_id}.png", _png(rgba))
                results[r.instance_id] = (res.method, res.ratio, int((res.alpha_mask & ~masks[r.instance_id]).sum()))

        try:
            if needs:
                source = source_path(st, film)
                with st.local_copy(source) as local:
                    _stream_fill(local, wanted, fill_frame)
        except AnimprocError as exc:
            raise fail(exc) from None
        paths, methods, filled = [], [], []
        for r in kept.itertuples():
            target = out / "cutouts" / f"{r.instance_id}.png"
            if r.instance_id not in results:
                st.copy(st.resolve(r.cutout_path), target)
            method, _, pixels = results.get(r.instance_id, ("none", ratios[r.instance_id], 0))
            paths.append(f"{film}/instances_inpainted/cutouts/{r.instance_id}.png")
            methods.append(method)
            filled.append(pixels)
        table = kept.copy()
        table["filtered_cutout_path"] = table["cutout_path"]
        table["cutout_path"] = paths
        table["occlusion_ratio"] = [round(ratios[i], 4) for i in table["instance_id"]]
        table["fill_method"] = methods
        table["filled_pixels"] = filled
        st.write_parquet(out / "instances.parquet", table)
    changed = table[table["fill_method"] != "none"]
    return MaterializeResult(metadata={
        "instances": len(table), "filled": len(changed), "inpainter": painter.name,
        "by_method": MetadataValue.json(dict(Counter(table["fill_method"]))),
        "occlusion_threshold": c.occlusion_threshold, "temporal_window": c.temporal_window,
        "mean_occlusion_ratio": round(float(table["occlusion_ratio"].mean()), 4) if len(table) else 0.0,
        "examples": MetadataValue.md(_example_grid(st, list(changed["cutout_path"]), list(changed["fill_method"]))
                                     if len(changed) else "no instance was occluded above the threshold"),
        "seconds": round(time.perf_counter() - started, 2),
    })


def _character_names(st, film: str) -> dict[str, str]:
    """Instance -> character name, once the identity review has named them (`characters` of an earlier run),
    so that re-materialising this asset prompts the sd inpainter per character."""
    path = st.asset_dir(film, "characters") / "index.parquet"
    if not path.exists():
        return {}
    index = st.read_parquet(path)
    index = index[index["kind"] == "instance"]
    return dict(zip(index["id"], index["character"]))


def _stream_fill(video, wanted: dict[int, list[int]], fill_frame) -> None:
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
