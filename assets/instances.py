"""Character instances, partitioned by film: instances -> (review gate: instance_review) -> instances_filtered
-> instances_inpainted."""
from collections import Counter

import cv2
from dagster import AssetExecutionContext, AssetSpec, MetadataValue

from animproc.image.preview import markdown_image, on_checkerboard, read_image, spread_sheet
from animproc.instances.inpaint import prompt_for
from animproc.instances.stages import (OcclusionPlan, inpaint_instances, keep_reviewed, per_frame_summary,
                                       segment_frames)
from animproc.review.gate import decided_review
from animproc.review.labels import auto_instance_review, write_auto_review
from assets import film_asset, film_step
from partitions import film_partitions
from resources.face_analyzer import FaceAnalyzerResource
from resources.film_config import FilmConfigResource
from resources.inpainter import InpainterResource
from resources.segmenter import SegmenterResource
from resources.storage import StorageResource

GROUP = "visual"


def _example_grid(read, paths: list[str], labels: list[str]) -> str:
    """Cutouts on a checkerboard; `read(path)`: the stored file a table path names."""
    sheet = spread_sheet(len(paths), lambda i: on_checkerboard(read_image(read(paths[i]), cv2.IMREAD_UNCHANGED)),
                         lambda i: labels[i], limit=18, thumb_width=120)
    return markdown_image(sheet, alt="instances") if sheet else "no instances"


@film_asset(code_version="1", group_name=GROUP, deps=["frames_processed"], kinds={"parquet", "png"},
            description="Every character (and other object) instance in every kept frame: RGBA cutout with soft "
                        "alpha, COCO RLE mask, box, area, source frame / time / shot, predicted category with a "
                        "score, and an overlay per frame; the faces found on each kept frame (the segmentation "
                        "seeds, reused by `faces`). With `review: auto` the predicted categories are also "
                        "written as the review.")
def instances(context: AssetExecutionContext, storage: StorageResource, film_config: FilmConfigResource,
              segmenter: SegmenterResource, face_analyzer: FaceAnalyzerResource):
    with film_step(context, storage, film_config) as step:
        config, products = step.config, step.products
        seg = segmenter.model(config)
        frames = products.table("frames_processed")
        frames = frames[frames["kept"]]
        with products.publish("instances") as out:
            table, per_frame, seconds, detections = segment_frames(
                frames, products, out, seg, face_analyzer.model(config).detector, config, step.progress)
            out.table("instances", table)
            out.table("face_detections", detections)
            grid = _example_grid(out.staged, list(table["cutout_path"]),
                                 [f"{c} {s:.2f}" for c, s in zip(table["category"], table["category_score"])])
        review_version = (write_auto_review(step.storage, auto_instance_review(
            step.film, dict(zip(table["instance_id"], table["category"])))) if config.review == "auto" else None)
        return step.result({
            "instances": len(table), "frames": len(frames), "segmenter": seg.name,
            "by_category": MetadataValue.json(dict(Counter(table["category"]))),
            "per_frame": MetadataValue.json(per_frame_summary(per_frame)),
            "min_area": config.instances.min_area, "alpha_threshold": config.instances.alpha_threshold,
            "review": config.review if review_version is None else f"auto (review version {review_version})",
            "retries": MetadataValue.json(getattr(seg, "retries", [])), "examples": MetadataValue.md(grid),
            "seconds": step.seconds(), "seconds_per_frame": round(seconds / max(1, len(frames)), 3)})


instance_review = AssetSpec(
    "instance_review", partitions_def=film_partitions, group_name=GROUP, code_version="1", deps=["instances"],
    description="The person's (or auto mode's) decisions on a film's instances: "
                "`{root}/{film}/reviews/instances.json`, written by `animproc review instances NAME`. "
                "Observed by the review sensor, which then runs the assets downstream.")


@film_asset(code_version="1", group_name=GROUP, deps=["instances", "instance_review"], kinds={"parquet", "png"},
            description="The character instances the review kept (category character after review), with a JSON "
                        "of every decision and statistics.")
def instances_filtered(context: AssetExecutionContext, storage: StorageResource, film_config: FilmConfigResource):
    with film_step(context, storage, film_config) as step:
        film, products = step.film, step.products
        table = products.table("instances", "instances")
        review = decided_review(products.review("instances"), step.config.review, film, "instances",
                                lambda: auto_instance_review(film, dict(zip(table["instance_id"], table["category"]))))
        with products.publish("instances_filtered") as out:
            kept, stats = keep_reviewed(table, review, out, step.progress)
            grid = _example_grid(out.staged, list(kept["cutout_path"]), list(kept["instance_id"]))
        if stats["decisions_for_unknown_instances"]:
            context.log.warning(f"{stats['decisions_for_unknown_instances']} review decisions name instances that "
                                "no longer exist (instances were re-materialised after the review)")
        return step.result({
            "kept": stats["kept"], "instances": stats["instances"], "discarded": stats["discarded"],
            "decided_by": MetadataValue.json(stats["decided_by"]), "recategorised": stats["recategorised"],
            "review_version": review.version, "examples": MetadataValue.md(grid)})


@film_asset(code_version="1", group_name=GROUP, deps=["instances_filtered", "instances", "frames_processed", "shots", "source_video"], kinds={"parquet", "png"},
            description="Kept character instances with occluded parts filled: from neighbouring frames of the same "
                        "shot (homography-aligned) first, then the inpainter with the film's default prompt; only "
                        "above the film's occlusion threshold. Records the occlusion ratio and the method per "
                        "instance. (Before the identity review no instance has a character name, so no "
                        "per-character prompt applies here.)")
def instances_inpainted(context: AssetExecutionContext, storage: StorageResource, film_config: FilmConfigResource,
                        inpainter: InpainterResource):
    with film_step(context, storage, film_config) as step:
        c, products = step.config.instances, step.products
        painter, prompts = inpainter.model(step.config), inpainter.prompts(step.film)
        kept = products.table("instances_filtered")
        plan = OcclusionPlan(kept, products.table("instances", "instances"), products.table("shots", "shots"),
                             c.occlusion_threshold, c.temporal_window)
        with products.publish("instances_inpainted") as out:
            table = inpaint_instances(kept, plan, products, out, painter, prompt_for(prompts, None), step.config,
                                      step.progress)
            changed = table[table["fill_method"] != "none"]
            grid = (_example_grid(out.staged, list(changed["cutout_path"]), list(changed["fill_method"]))
                    if len(changed) else "no instance was occluded above the threshold")
        return step.result({
            "instances": len(table), "filled": len(changed), "inpainter": painter.name,
            "by_method": MetadataValue.json(dict(Counter(table["fill_method"]))),
            "occlusion_threshold": c.occlusion_threshold, "temporal_window": c.temporal_window,
            "mean_occlusion_ratio": round(float(table["occlusion_ratio"].mean()), 4) if len(table) else 0.0,
            "examples": MetadataValue.md(grid), "seconds": step.seconds()})
