"""Visual foundation assets, partitioned by film: source_video -> shots, frames -> frames_processed."""
import json
import time
from collections import Counter

import numpy as np
import pandas as pd
from dagster import (AssetExecutionContext, AssetKey, AssetSpec, MaterializeResult, MetadataValue, asset,
                     multi_asset)

from animproc.errors import AnimprocError
from animproc.image.curate import curate
from animproc.image.preview import contact_sheet, encode_image, figure_png, markdown_image, markdown_table, read_image
from animproc.library import film_record, source_path
from animproc.video.probe import probe_media
from animproc.video.scan import FrameWriter, ScanResult, scan_film
from assets import fail
from assets.versioning import content_versioned
from partitions import film_partitions
from resources.film_config import FilmConfigResource
from resources.placement import step_pool, step_tags
from resources.shot_detector import ShotDetectorResource
from resources.storage import StorageResource

GROUP = "visual"


def _config_metadata(config, path) -> dict:
    return {"config": MetadataValue.json(config.model_dump(mode="json")),
            "config_source": MetadataValue.text(path or "generic 3D defaults (no configs/projects file)")}


@asset(partitions_def=film_partitions, group_name=GROUP, code_version="1", kinds={"video"},
       op_tags=step_tags("source_video"), pool=step_pool("source_video"),
       description="The film's source media, probed with PyAV: duration, fps (VFR flagged), resolution, "
                   "codecs, audio streams and channel layouts, rotation.")
@content_versioned
def source_video(context: AssetExecutionContext, storage: StorageResource,
                 film_config: FilmConfigResource) -> MaterializeResult:
    film = context.partition_key
    st = storage.storage()
    try:
        config, config_path = film_config.load(film)
        media = source_path(st, film)
        with st.local_copy(media) as local:
            info = probe_media(local)
    except AnimprocError as exc:
        raise fail(exc) from None
    probe = {**info.to_dict(), "path": st.relative(media)}
    with st.publish_dir(film, "source_video") as out:
        st.write_text(out / "probe.json", json.dumps(probe, indent=2))
    record = film_record(st, film) or {}
    return MaterializeResult(metadata={
        "path": MetadataValue.path(str(media)),
        "original_path": MetadataValue.text(record.get("original_path", "")),
        "duration_s": round(info.duration_s, 3), "fps": info.fps, "vfr": info.vfr,
        "frame_count": info.frame_count, "resolution": f"{info.width}x{info.height}",
        "video_codec": info.video_codec, "pix_fmt": info.pix_fmt, "rotation": info.rotation,
        "audio_streams": MetadataValue.json([a.__dict__ for a in info.audio]),
        **_config_metadata(config, config_path),
    })


def _timeline_plot(result: ScanResult) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(8, 3.2))
    colours = {"cut": "black", "fade_in": "tab:blue", "fade_out": "tab:purple", "dissolve": "tab:orange"}
    for t in result.transitions:
        ax1.axvspan(t.first / result.fps, (t.last + 1) / result.fps, color=colours.get(t.kind, "grey"), alpha=0.8)
    ax1.set_yticks([])
    ax1.set_xlim(0, result.frame_count / max(result.fps, 1e-9))
    ax1.set_title("transitions (black: cut, blue/purple: fades, orange: dissolve)", fontsize=8)
    lengths = [(s.end_frame - s.start_frame + 1) / result.fps for s in result.shots]
    ax2.hist(lengths, bins=min(30, max(5, len(lengths))), color="tab:green")
    ax2.set_xlabel("shot length (s)", fontsize=8)
    fig.tight_layout()
    return figure_png(fig)


@multi_asset(
    partitions_def=film_partitions, group_name=GROUP, can_subset=False,
    op_tags=step_tags("shots_and_frames"), pool=step_pool("shots_and_frames"),
    specs=[
        AssetSpec("shots", deps=["source_video"], code_version="1", kinds={"parquet"},
                  description="Every shot and transition: hard cuts, fades to/from black and dissolves, with "
                              "presentation-order frame indices from 0 and times in seconds."),
        AssetSpec("frames", deps=["shots"], code_version="1", kinds={"parquet", "jpeg"},
                  description="Full-resolution frames sampled per the film's mode (scene / interval / hybrid), "
                              "with a Parquet manifest (film, frame index, time, shot id, path, size)."),
    ],
)
@content_versioned
def shots_and_frames(context: AssetExecutionContext, storage: StorageResource, film_config: FilmConfigResource,
                     shot_detector: ShotDetectorResource):
    """One decode pass produces both assets: detection rides on frames that are decoded anyway."""
    film = context.partition_key
    st = storage.storage()
    try:
        config, _ = film_config.load(film)
        media = source_path(st, film)
        detectors = shot_detector.model(config)
    except AnimprocError as exc:
        raise fail(exc) from None
    started = time.perf_counter()
    with st.local_copy(media) as local, st.publish_dir(film, "shots") as shots_dir, \
            st.publish_dir(film, "frames") as frames_dir:
        try:
            info = probe_media(local)
            images = frames_dir / "images"
            images.mkdir(parents=True, exist_ok=True)
            writer = FrameWriter(lambda name, data: st.write_bytes(images / name, data),
                                 config.sampling.image_format, config.sampling.jpeg_quality)
            result = scan_film(local, config, info.fps or 24.0, writer, detectors,
                               progress=lambda i: context.log.info(f"decoded {i} of {info.frame_count} frames"),
                               skip_loop_filter="noref" if config.shots.fast_decode else None)
        except AnimprocError as exc:
            raise fail(exc) from None
        shots = result.shots_table()
        shots.insert(0, "film", film)
        transitions = result.transitions_table()
        st.write_parquet(shots_dir / "shots.parquet", shots)
        st.write_parquet(shots_dir / "transitions.parquet", transitions)
        frames = result.frames_table()
        frames.insert(0, "film", film)
        frames["path"] = [f"{film}/frames/images/{name}" for name in frames.pop("image")]
        st.write_parquet(frames_dir / "manifest.parquet", frames)
        sheet = _frames_sheet(frames, images)
    seconds = round(time.perf_counter() - started, 2)
    kinds = Counter(t.kind for t in result.transitions)
    lengths = (shots["end_time"] - shots["start_time"]) if len(shots) else pd.Series([0.0])
    yield MaterializeResult(asset_key=AssetKey("shots"), metadata={
        "shots": len(shots), "frame_count": result.frame_count, "detector": detectors.name,
        "transitions": MetadataValue.json(dict(kinds)),
        "mean_shot_seconds": round(float(lengths.mean()), 3),
        "cuts_per_minute": round(60 * max(0, len(shots) - 1) / max(result.frame_count / result.fps, 1e-9), 2),
        "timeline": MetadataValue.md(markdown_image(_timeline_plot(result), "image/png", "timeline")),
        "decode_pass_seconds": seconds,
        "preview": MetadataValue.md(markdown_table(shots.head(20))),
    })
    yield MaterializeResult(asset_key=AssetKey("frames"), metadata={
        "frames": len(frames), "mode": config.sampling.mode,
        "by_reason": MetadataValue.json(dict(Counter(frames["reason"]))),
        "path": MetadataValue.path(str(st.asset_dir(film, "frames"))),
        "contact_sheet": MetadataValue.md(sheet),
        "decode_pass_seconds": seconds,
        "frames_per_second_of_film": round(len(frames) / max(result.frame_count / result.fps, 1e-9), 3),
    })


def _frames_sheet(frames: pd.DataFrame, folder, limit: int = 24) -> str:
    if frames.empty:
        return "no frames"
    picks = frames.iloc[np.linspace(0, len(frames) - 1, min(limit, len(frames))).astype(int)]
    images = [read_image(folder / p.rsplit("/", 1)[-1]) for p in picks["path"]]
    labels = [f"#{i} shot {s}" for i, s in zip(picks["frame_index"], picks["shot_id"])]
    return markdown_image(encode_image(contact_sheet(images, labels, thumb_width=160)), alt="frames")


@asset(partitions_def=film_partitions, group_name=GROUP, code_version="2", deps=["frames"], kinds={"parquet", "jpeg"},
       op_tags=step_tags("frames_processed"), pool=step_pool("frames_processed"),
       description="Each shot's best frames, measured at the film's own detail level (the same for a 480p and "
                   "an upscaled 1080p delivery): broken frames (dark, flat, smeared) and near duplicates of a "
                   "better frame anywhere in the film are dropped. The manifest keeps every frame's metrics "
                   "and the reason for every decision.")
@content_versioned
def frames_processed(context: AssetExecutionContext, storage: StorageResource,
                     film_config: FilmConfigResource) -> MaterializeResult:
    film = context.partition_key
    st = storage.storage()
    config, _ = film_config.load(film)
    started = time.perf_counter()
    frames = st.read_parquet(st.asset_dir(film, "frames") / "manifest.parquet")
    paths = [st.resolve(p) for p in frames["path"]]
    curation = curate(frames, lambda i: read_image(paths[i]), config)
    curated = curation.frames
    with st.publish_dir(film, "frames_processed") as out:
        images = out / "images"
        images.mkdir(parents=True, exist_ok=True)
        new_paths = []
        for src, kept in zip(paths, curated["kept"]):
            if kept:
                st.copy(src, images / src.name)
                new_paths.append(f"{film}/frames_processed/images/{src.name}")
            else:
                new_paths.append(None)
        curated["source_path"] = curated.pop("path")
        curated["path"] = new_paths
        st.write_parquet(out / "manifest.parquet", curated)
        kept = curated[curated["kept"]]
        sheet = _frames_sheet(kept, images) if len(kept) else "no frames kept"
    reasons = Counter(r.split(" (")[0] for r in curated["drop_reason"].dropna())
    return MaterializeResult(metadata={
        "input_frames": len(curated), "kept": int(curated["kept"].sum()),
        "dropped": MetadataValue.json(dict(reasons)),
        "thresholds": MetadataValue.json({**config.quality.model_dump(), **config.dedup.model_dump()}),
        "median_sharpness": round(float(curated["sharpness"].median()), 2) if len(curated) else 0.0,
        "film_detail": MetadataValue.json(curation.detail.to_dict() if curation.detail else {}),
        **({"warning": MetadataValue.text(curation.warning)} if curation.warning else {}),
        "contact_sheet": MetadataValue.md(sheet), "seconds": round(time.perf_counter() - started, 2),
    })
