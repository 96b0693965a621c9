"""Visual foundation assets, partitioned by film: source_video -> shots, frames -> frames_processed."""
from collections import Counter

import pandas as pd
from dagster import AssetExecutionContext, AssetSpec, MetadataValue, multi_asset

from animproc.image.curate import curate
from animproc.image.plots import transitions_timeline
from animproc.image.preview import markdown_image, markdown_table, read_image, spread_sheet
from animproc.library import film_record
from animproc.video.probe import probe_media
from animproc.video.scan import FrameWriter, scan_film
from assets import film_asset, film_step, table_schemas
from assets.versioning import content_versioned
from resources.placement import step_pool, step_tags
from partitions import film_partitions
from resources.film_config import FilmConfigResource
from resources.shot_detector import ShotDetectorResource
from resources.storage import StorageResource

GROUP = "visual"


def _config_metadata(config, path) -> dict:
    return {"config": MetadataValue.json(config.model_dump(mode="json")),
            "config_source": MetadataValue.text(path or "generic 3D defaults (no configs/projects file)")}


def _frames_sheet(frames: pd.DataFrame, read) -> str:
    """`read(path)`: the image a manifest path names."""
    paths, frame_ids, shot_ids = list(frames["path"]), list(frames["frame_index"]), list(frames["shot_id"])
    sheet = spread_sheet(len(paths), lambda i: read(paths[i]), lambda i: f"#{frame_ids[i]} shot {shot_ids[i]}")
    return markdown_image(sheet, alt="frames") if sheet else "no frames"


@film_asset(code_version="1", group_name=GROUP, deps=[], kinds={"video"},
            description="The film's source media, probed with PyAV: duration, fps (VFR flagged), resolution, "
                        "codecs, audio streams and channel layouts, rotation.")
def source_video(context: AssetExecutionContext, storage: StorageResource, film_config: FilmConfigResource):
    with film_step(context, storage, film_config) as step:
        st, media = step.storage, step.products.source_media()
        with st.local_copy(media) as local:
            info = probe_media(local)
        with step.products.publish("source_video") as out:
            out.json("probe", {**info.to_dict(), "path": st.relative(media)})
        return step.result({
            "path": MetadataValue.path(str(media)),
            "original_path": MetadataValue.text((film_record(st, step.film) or {}).get("original_path", "")),
            "duration_s": round(info.duration_s, 3), "fps": info.fps, "vfr": info.vfr,
            "frame_count": info.frame_count, "resolution": f"{info.width}x{info.height}",
            "video_codec": info.video_codec, "pix_fmt": info.pix_fmt, "rotation": info.rotation,
            "audio_streams": MetadataValue.json([a.__dict__ for a in info.audio]),
            **_config_metadata(step.config, step.config_path)})


@multi_asset(
    partitions_def=film_partitions, group_name=GROUP, can_subset=False,
    op_tags=step_tags("shots_and_frames"), pool=step_pool("shots_and_frames"),
    specs=[
        AssetSpec("shots", deps=["source_video"], code_version="1", kinds={"parquet"}, metadata=table_schemas("shots"),
                  description="Every shot and transition: hard cuts, fades to/from black and dissolves, with "
                              "presentation-order frame indices from 0 and times in seconds."),
        AssetSpec("frames", deps=["shots"], code_version="1", kinds={"parquet", "jpeg"}, metadata=table_schemas("frames"),
                  description="Full-resolution frames sampled per the film's mode (scene / interval / hybrid), "
                              "with a Parquet manifest (film, frame index, time, shot id, path, size)."),
    ],
)
@content_versioned
def shots_and_frames(context: AssetExecutionContext, storage: StorageResource, film_config: FilmConfigResource,
                     shot_detector: ShotDetectorResource):
    """One decode pass produces both assets: detection rides on frames that are decoded anyway."""
    with film_step(context, storage, film_config) as step:
        st, film, config = step.storage, step.film, step.config
        with st.local_copy(step.products.source_media()) as local, step.products.publish("shots") as shots_out, \
                step.products.publish("frames") as frames_out:
            info = probe_media(local)
            writer = FrameWriter(lambda name, data: frames_out.blob(f"images/{name}", data),
                                 config.sampling.image_format, config.sampling.jpeg_quality)
            detectors = shot_detector.model(config)
            result = scan_film(local, config, info.fps or 24.0, writer, detectors,
                               progress=step.progress, skip_loop_filter="noref" if config.shots.fast_decode else None,
                               frame_count=info.frame_count)
            shots = result.shots_table()
            shots.insert(0, "film", film)
            shots_out.table("shots", shots)
            shots_out.table("transitions", result.transitions_table())
            frames = result.frames_table()
            frames.insert(0, "film", film)
            frames["path"] = [frames_out.relative(f"images/{name}") for name in frames.pop("image")]
            frames_out.table("manifest", frames)
            sheet = _frames_sheet(frames, lambda p: read_image(frames_out.staged(p)))
        seconds, duration = step.seconds(), max(result.frame_count / result.fps, 1e-9)
        lengths = (shots["end_time"] - shots["start_time"]) if len(shots) else pd.Series([0.0])
        timeline = transitions_timeline(result.transitions, result.shots, result.fps, result.frame_count)
        yield step.result({
            "shots": len(shots), "frame_count": result.frame_count, "detector": detectors.name,
            "transitions": MetadataValue.json(dict(Counter(t.kind for t in result.transitions))),
            "mean_shot_seconds": round(float(lengths.mean()), 3),
            "cuts_per_minute": round(60 * max(0, len(shots) - 1) / duration, 2),
            "timeline": MetadataValue.md(markdown_image(timeline, "image/png", "timeline")),
            "decode_pass_seconds": seconds, "preview": MetadataValue.md(markdown_table(shots.head(20)))}, "shots")
        yield step.result({
            "frames": len(frames), "mode": config.sampling.mode,
            "by_reason": MetadataValue.json(dict(Counter(frames["reason"]))),
            "path": MetadataValue.path(str(step.products.folder("frames"))), "contact_sheet": MetadataValue.md(sheet),
            "decode_pass_seconds": seconds, "frames_per_second_of_film": round(len(frames) / duration, 3)}, "frames")


@film_asset(code_version="2", group_name=GROUP, deps=["frames"], kinds={"parquet", "jpeg"},
            description="Each shot's best frames, measured at the film's own detail level (the same for a 480p "
                        "and an upscaled 1080p delivery): broken frames (dark, flat, smeared) and near duplicates "
                        "of a better frame anywhere in the film are dropped. The manifest keeps every frame's "
                        "metrics and the reason for every decision.")
def frames_processed(context: AssetExecutionContext, storage: StorageResource, film_config: FilmConfigResource):
    with film_step(context, storage, film_config) as step:
        config, products = step.config, step.products
        frames = products.table("frames")
        paths = [products.resolve(p) for p in frames["path"]]
        curation = curate(frames, lambda i: read_image(paths[i]), config, step.progress)
        curated = curation.frames
        with products.publish("frames_processed") as out:
            curated["source_path"] = curated.pop("path")
            curated["path"] = [out.copy(src, f"images/{src.rsplit('/', 1)[-1]}") if kept else None
                               for src, kept in zip(curated["source_path"], curated["kept"])]
            out.table("manifest", curated)
            kept = curated[curated["kept"]]
            sheet = _frames_sheet(kept, lambda p: read_image(out.staged(p)))
        reasons = Counter(r.split(" (")[0] for r in curated["drop_reason"].dropna())
        return step.result({
            "input_frames": len(curated), "kept": int(curated["kept"].sum()),
            "dropped": MetadataValue.json(dict(reasons)),
            "thresholds": MetadataValue.json({**config.quality.model_dump(), **config.dedup.model_dump()}),
            "median_sharpness": round(float(curated["sharpness"].median()), 2) if len(curated) else 0.0,
            "film_detail": MetadataValue.json(curation.detail.to_dict() if curation.detail else {}),
            **({"warning": MetadataValue.text(curation.warning)} if curation.warning else {}),
            "contact_sheet": MetadataValue.md(sheet if len(kept) else "no frames kept"), "seconds": step.seconds()})
