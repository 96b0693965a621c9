"""Temporal analysis, partitioned by film: shot_structure."""
import json
import time
from collections import Counter

import pandas as pd
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from animproc.errors import AnimprocError
from animproc.image.faces import CenterFaceDetector
from animproc.image.preview import figure_png, markdown_image, markdown_table
from animproc.library import source_path
from animproc.temporal.structure import group_scenes, narrative_graph, pacing, scan_structure, shot_scale
from assets import fail
from partitions import film_partitions
from resources.film_config import FilmConfigResource
from resources.storage import StorageResource

GROUP = "temporal"


def _timeline(table: pd.DataFrame, duration: float) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from animproc.temporal.structure import SCALES

    fig, ax = plt.subplots(figsize=(8, 2.4))
    levels = {s: i for i, s in enumerate((*SCALES, "no_subject"))}
    for r in table.itertuples():
        ax.barh(levels[r.scale], r.end_time - r.start_time, left=r.start_time, height=0.8,
                color=f"C{int(r.scene_id) % 10}")
    ax.set_yticks(range(len(levels)), list(levels), fontsize=6)
    ax.set_xlim(0, duration)
    ax.set_xlabel("seconds (colour: scene)", fontsize=7)
    ax.invert_yaxis()
    fig.tight_layout()
    return figure_png(fig)


@asset(partitions_def=film_partitions, group_name=GROUP, deps=["shots", "source_video"], kinds={"parquet", "json"},
       description="Per shot: camera movement (static, pan, tilt, zoom / dolly, roll, handheld, complex) from global "
                   "motion, shot scale from the largest face (no_subject without one), each with a confidence and "
                   "its evidence; shots grouped into scenes by colour signature; pacing statistics; a scene graph.")
def shot_structure(context: AssetExecutionContext, storage: StorageResource,
                   film_config: FilmConfigResource) -> MaterializeResult:
    film = context.partition_key
    st = storage.storage()
    config, _ = film_config.load(film)
    shots = st.read_parquet(st.asset_dir(film, "shots") / "shots.parquet")
    probe = json.loads((st.asset_dir(film, "source_video") / "probe.json").read_text())
    fps = float(probe.get("fps") or 24.0)
    started = time.perf_counter()
    try:
        with st.local_copy(source_path(st, film)) as local:
            found = scan_structure(local, shots, fps, config.temporal,
                                   CenterFaceDetector(config.identities.face_threshold))
    except AnimprocError as exc:
        raise fail(exc) from None
    rows = []
    for s in shots.itertuples():
        f = found[int(s.shot_id)]
        scale, scale_conf, scale_ev = shot_scale(f["face_ratios"], config.temporal)
        cam = f["camera"]
        rows.append({"film": film, "shot_id": int(s.shot_id), "start_frame": int(s.start_frame),
                     "end_frame": int(s.end_frame), "start_time": float(s.start_time), "end_time": float(s.end_time),
                     "duration": float(s.end_time - s.start_time), "scale": scale, "scale_confidence": scale_conf,
                     "scale_evidence": json.dumps(scale_ev), "camera": cam.label, "camera_confidence": cam.confidence,
                     "camera_evidence": json.dumps(cam.evidence)})
    table = pd.DataFrame(rows)
    table["scene_id"] = group_scenes([found[int(s)]["hist"] for s in shots["shot_id"]],
                                     config.temporal.scene_similarity) if len(table) else []
    duration = float(probe.get("duration_s") or (table["end_time"].max() if len(table) else 0.0))
    stats = pacing(table, duration) if len(table) else {}
    graph = narrative_graph(table) if len(table) else {"nodes": [], "edges": []}
    with st.publish_dir(film, "shot_structure") as out:
        st.write_parquet(out / "shot_structure.parquet", table)
        st.write_text(out / "scenes.json", json.dumps({"film": film, "pacing": stats, **graph}, indent=1))
    seconds = round(time.perf_counter() - started, 2)
    return MaterializeResult(metadata={
        "shots": len(table), "scenes": len(graph["nodes"]), "seconds": seconds,
        "camera": MetadataValue.json(dict(Counter(table["camera"]))) if len(table) else MetadataValue.json({}),
        "scale": MetadataValue.json(dict(Counter(table["scale"]))) if len(table) else MetadataValue.json({}),
        "pacing": MetadataValue.json(stats),
        "timeline": MetadataValue.md(markdown_image(_timeline(table, duration), "image/png", "structure")
                                     if len(table) else "no shots"),
        "preview": MetadataValue.md(markdown_table(table[["shot_id", "start_time", "end_time", "scale", "camera",
                                                          "scene_id"]].head(20)) if len(table) else "no shots"),
    })
