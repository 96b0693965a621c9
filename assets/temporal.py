"""Temporal analysis, partitioned by film: shot_structure, motion, effects_catalog."""
import json
import time
from collections import Counter

import numpy as np
import pandas as pd
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from animproc.errors import AnimprocError
from animproc.image.preview import contact_sheet, encode_image, figure_png, markdown_image, markdown_table
from animproc.library import source_path
from animproc.temporal.effects import CATEGORIES, catalogue, scan_effects, transformation_scores
from animproc.temporal.motion import scan_motion
from animproc.identity.tracks import centre_inside
from animproc.temporal.tracks import Detection, face_detection, path_boxes
from animproc.temporal.zero_shot import confirm_events
from animproc.video.shots import dissolve_ranges, shot_position
from animproc.temporal.structure import (face_ratios, figure_scale, group_acts, group_scenes, narrative_graph, pacing,
                                         scan_structure, scene_loudness, shot_scale)
from assets import fail
from assets.versioning import content_versioned
from partitions import film_partitions
from resources.action_recognizer import ActionRecognizerResource
from resources.face_analyzer import FaceAnalyzerResource
from resources.film_config import FilmConfigResource
from resources.optical_flow import OpticalFlowResource
from resources.placement import step_pool, step_tags
from resources.pose_estimator import PoseEstimatorResource
from resources.storage import StorageResource
from resources.zero_shot import ZeroShotResource

GROUP = "temporal"


def _shots_and_probe(st, film: str) -> tuple[pd.DataFrame, dict, float]:
    shots = st.read_parquet(st.asset_dir(film, "shots") / "shots.parquet")
    probe = json.loads((st.asset_dir(film, "source_video") / "probe.json").read_text())
    return shots, probe, float(probe.get("fps") or 24.0)


def _fade_starts(shots: pd.DataFrame, transitions: pd.DataFrame | None) -> set[int]:
    """Positions (in `shots`) of the shots that begin by fading in from black."""
    if transitions is None or not len(transitions):
        return set()
    starts = shots["start_frame"].to_numpy()
    out = set()
    for r in transitions[transitions["kind"] == "fade_in"].itertuples():
        if r.boundary is not None and not pd.isna(r.boundary):
            out.add(int(np.argmin(np.abs(starts - int(r.boundary)))))
    return out


def _characters_by_shot(st, film: str) -> dict[int, set[str]]:
    """Named characters (or identity clusters) seen in each shot, from the reviewed instances."""
    instances = _optional(st, film, "instances_filtered", "instances.parquet")
    names = _instance_names(st, film)
    out: dict[int, set[str]] = {}
    if instances is not None:
        for shot_id, instance_id in zip(instances["shot_id"], instances["instance_id"].astype(str)):
            if instance_id in names:
                out.setdefault(int(shot_id), set()).add(names[instance_id])
    return out


def _largest_figures(instances: pd.DataFrame | None, frame_height: float) -> dict[int, list[tuple[float, float]]]:
    """Per shot: (top, bottom) of the tallest reviewed character instance on each of its frames, as shares of
    the picture height."""
    out: dict[int, list[tuple[float, float]]] = {}
    if instances is None or not len(instances):
        return out
    for (shot_id, _), g in instances.groupby(["shot_id", "frame_index"]):
        r = g.loc[g["bbox_h"].idxmax()]
        out.setdefault(int(shot_id), []).append((float(r.bbox_y) / frame_height,
                                                 float(r.bbox_y + r.bbox_h) / frame_height))
    return out


def _scene_hists(table: pd.DataFrame, found: dict) -> list[np.ndarray | None]:
    out = []
    for _, g in table.groupby("scene_id", sort=True):
        hs = [found[int(s)]["hist"] for s in g["shot_id"] if found[int(s)]["hist"] is not None]
        out.append(np.sum(hs, axis=0) if hs else None)
    return out


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


@asset(partitions_def=film_partitions, group_name=GROUP, code_version="1", deps=["shots", "source_video", "motion"],
       op_tags=step_tags("shot_structure"), pool=step_pool("shot_structure"),
       kinds={"parquet", "json"},
       description="Per shot: camera movement (static, pan, tilt, zoom / dolly, roll, handheld, complex) from global "
                   "motion with the tracked characters left out; shot scale from the largest face (the faces asset's "
                   "when it exists), else the tallest reviewed instance (no_subject without either); each with a "
                   "confidence and its evidence. Scenes (colour, fades, characters), acts, pacing, a scene graph.")
@content_versioned
def shot_structure(context: AssetExecutionContext, storage: StorageResource,
                   film_config: FilmConfigResource, face_analyzer: FaceAnalyzerResource) -> MaterializeResult:
    film = context.partition_key
    st = storage.storage()
    config, _ = film_config.load(film)
    shots, probe, fps = _shots_and_probe(st, film)
    frame_height = float(probe.get("height") or 1)
    faces = _optional(st, film, "faces", "faces.parquet")
    transitions = _optional(st, film, "shots", "transitions.parquet")
    dissolves = dissolve_ranges(transitions)
    started = time.perf_counter()
    try:
        detect_faces = None if faces is not None else face_analyzer.model(config).detector
        with st.local_copy(source_path(st, film)) as local:
            found = scan_structure(local, shots, fps, config.temporal, detect_faces,
                                   foreground={f: [box for _, box in boxes] for f, boxes in
                                               _track_boxes(_optional(st, film, "motion", "tracks.parquet")).items()},
                                   dissolves=dissolves)
    except AnimprocError as exc:
        raise fail(exc) from None
    if faces is not None:  # the faces asset looked more often and at full resolution: use its boxes
        for shot_id, ratios in face_ratios(faces, frame_height, dissolves).items():
            if shot_id in found:
                found[shot_id]["face_ratios"] = ratios
    figures = _largest_figures(_optional(st, film, "instances_filtered", "instances.parquet"), frame_height)
    rows = []
    for s in shots.itertuples():
        f = found[int(s.shot_id)]
        scale, scale_conf, scale_ev = shot_scale(f["face_ratios"], config.temporal)
        if scale == "no_subject" and figures.get(int(s.shot_id)):
            scale, scale_conf, scale_ev = figure_scale(figures[int(s.shot_id)], config.temporal)
        cam = f["camera"]
        rows.append({"film": film, "shot_id": int(s.shot_id), "start_frame": int(s.start_frame),
                     "end_frame": int(s.end_frame), "start_time": float(s.start_time), "end_time": float(s.end_time),
                     "duration": float(s.end_time - s.start_time), "scale": scale, "scale_confidence": scale_conf,
                     "scale_evidence": json.dumps(scale_ev), "camera": cam.label, "camera_confidence": cam.confidence,
                     "camera_evidence": json.dumps(cam.evidence)})
    table = pd.DataFrame(rows)
    cast = _characters_by_shot(st, film)
    table["scene_id"] = group_scenes([found[int(s)]["hist"] for s in shots["shot_id"]],
                                     config.temporal.scene_similarity,
                                     [cast.get(int(s), set()) for s in shots["shot_id"]],
                                     _fade_starts(shots, transitions)) if len(table) else []
    duration = float(probe.get("duration_s") or (table["end_time"].max() if len(table) else 0.0))
    stats = pacing(table, duration) if len(table) else {}
    graph = narrative_graph(table, cast) if len(table) else {"nodes": [], "edges": []}
    if graph["nodes"]:
        hists = _scene_hists(table, found)
        loudness = scene_loudness(st.asset_dir(film, "audio") / "analysis_16k.wav", graph["nodes"])
        acts = group_acts(graph["nodes"], hists, loudness, config.temporal.act_min_scenes)
        for node, act, loud in zip(graph["nodes"], acts, loudness or [None] * len(acts)):
            node["act"], node["loudness_db"] = act, loud
        table["act_id"] = table["scene_id"].map({n["scene_id"]: n["act"] for n in graph["nodes"]})
    with st.publish_dir(film, "shot_structure") as out:
        st.write_parquet(out / "shot_structure.parquet", table)
        st.write_text(out / "scenes.json", json.dumps({"film": film, "pacing": stats, **graph}, indent=1))
    seconds = round(time.perf_counter() - started, 2)
    return MaterializeResult(metadata={
        "shots": len(table), "scenes": len(graph["nodes"]), "seconds": seconds,
        "acts": len({n["act"] for n in graph["nodes"]}),
        "camera": MetadataValue.json(dict(Counter(table["camera"]))) if len(table) else MetadataValue.json({}),
        "scale": MetadataValue.json(dict(Counter(table["scale"]))) if len(table) else MetadataValue.json({}),
        "pacing": MetadataValue.json(stats),
        "timeline": MetadataValue.md(markdown_image(_timeline(table, duration), "image/png", "structure")
                                     if len(table) else "no shots"),
        "preview": MetadataValue.md(markdown_table(table[["shot_id", "start_time", "end_time", "scale", "camera",
                                                          "scene_id"]].head(20)) if len(table) else "no shots"),
    })


def _optional(st, film: str, asset_name: str, file: str) -> pd.DataFrame | None:
    path = st.asset_dir(film, asset_name) / file
    return st.read_parquet(path) if path.exists() else None


def _character_names(st, film: str, kind: str) -> dict[str, str] | None:
    """face or instance id (`kind`) -> character name; None before the identity review has named any."""
    index = _optional(st, film, "characters", "index.parquet")
    if index is None or not len(index):
        return None
    named = index[index["kind"] == kind]
    return dict(zip(named["id"].astype(str), named["character"].astype(str)))


def _instance_names(st, film: str) -> dict[str, str]:
    """instance id -> character name (after the identity review) or identity cluster."""
    names = _character_names(st, film, "instance")
    if names is not None:
        return names
    clusters = _optional(st, film, "identity_clusters", "instances.parquet")
    if clusters is not None and len(clusters):
        return {str(i): f"cluster {int(c)}" for i, c in zip(clusters["instance_id"], clusters["cluster"]) if int(c) >= 0}
    return {}


def known_detections(st, film: str, width: int, height: int) -> tuple[dict[int, list[Detection]], list[str]]:
    """What the film already knows of its characters, by frame index: reviewed instances (with names once the
    identity review has named them) and faces (as the figures they imply in the `width` x `height` picture;
    all of them: the size and sharpness limits are for clustering, not for being there). A face inside an
    instance is that instance, except where an instance holds two faces or more: it is a group, and the faces
    stand for its characters. Returns the detections and the sources used."""
    out: dict[int, list[Detection]] = {}
    used = []
    instances = _optional(st, film, "instances_filtered", "instances.parquet")
    if instances is not None and len(instances):
        names = _instance_names(st, film)
        for r in instances.itertuples():
            box = np.array([r.bbox_x, r.bbox_y, r.bbox_x + r.bbox_w, r.bbox_y + r.bbox_h], np.float64)
            out.setdefault(int(r.frame_index), []).append(
                Detection(box, 1.0, "instance", str(r.instance_id), names.get(str(r.instance_id))))
        used.append("instances_filtered")
    faces = _optional(st, film, "faces", "faces.parquet")
    if faces is not None and len(faces):
        face_names = _character_names(st, film, "face") or {}
        for frame_index, g in faces.groupby("frame_index"):
            frame = out.setdefault(int(frame_index), [])
            boxes = [np.array([r.x0, r.y0, r.x1, r.y1], np.float64) for r in g.itertuples()]
            frame[:] = [d for d in frame if sum(centre_inside(d.box, b) for b in boxes) < 2]  # groups give way
            for r, box in zip(g.itertuples(), boxes):
                if not any(d.source == "instance" and centre_inside(d.box, box) for d in frame):
                    d = face_detection(box, float(r.score), width, height)
                    d.label = face_names.get(str(r.face_id))
                    frame.append(d)
        used.append("faces")
    return out, used


@asset(partitions_def=film_partitions, group_name=GROUP, code_version="1", deps=["shots", "source_video"],
       op_tags=step_tags("motion"), pool=step_pool("motion"),
       kinds={"parquet"},
       description="Per shot: optical flow (motion energy, dominant direction of the picture's motion, camera vs "
                   "subject split). Character tracks within shots over the reviewed instances and faces when the "
                   "film has them (names once the identity review named them; re-materialise after `characters`), "
                   "else over faces and moving regions found here; per track duration, path and speed. Pose per "
                   "track when a pose model is configured (else recorded as skipped), actions per track segment.")
@content_versioned
def motion(context: AssetExecutionContext, storage: StorageResource, film_config: FilmConfigResource,
           optical_flow: OpticalFlowResource, pose_estimator: PoseEstimatorResource,
           action_recognizer: ActionRecognizerResource, face_analyzer: FaceAnalyzerResource) -> MaterializeResult:
    film = context.partition_key
    st = storage.storage()
    config, _ = film_config.load(film)
    shots, probe, fps = _shots_and_probe(st, film)
    detections, used = known_detections(st, film, int(probe.get("width") or 1), int(probe.get("height") or 1))
    started = time.perf_counter()
    try:
        flow = optical_flow.model(config)
        pose = pose_estimator.model(config)
        recognizer = action_recognizer.model(config)
        detect_faces = None if "faces" in used else face_analyzer.model(config).detector
        with st.local_copy(source_path(st, film)) as local:
            results = scan_motion(local, shots, fps, config.temporal, flow, detections, detect_faces, pose, recognizer,
                                  on_shot=lambda r: context.log.debug(f"shot {r.shot_id}: {len(r.tracks)} tracks"),
                                  dissolves=dissolve_ranges(_optional(st, film, "shots", "transitions.parquet")))
    except AnimprocError as exc:
        raise fail(exc) from None
    flow_rows = [{"film": film, "shot_id": r.shot_id, **r.flow, "flow_backend": flow.name} for r in results]
    tracks = pd.DataFrame([{**t, "film": film, "path": json.dumps(t["path"]), "instance_ids": json.dumps(t["instance_ids"])}
                           for r in results for t in r.tracks],
                          columns=["film", "track_id", "shot_id", "label", "source", "start_frame", "end_frame",
                                   "start_time", "end_time", "duration", "observed", "samples", "speed", "path",
                                   "instance_ids"])
    actions = pd.DataFrame([{**a, "film": film, "evidence": json.dumps(a["evidence"])} for r in results for a in r.actions],
                           columns=["film", "track_id", "shot_id", "label", "start_time", "end_time", "action",
                                    "confidence", "method", "evidence"])
    poses = pd.DataFrame([{**p, "film": film, "keypoints": json.dumps(p["keypoints"])} for r in results for p in r.poses],
                         columns=["film", "track_id", "shot_id", "frame_index", "time", "keypoints"])
    with st.publish_dir(film, "motion") as out:
        st.write_parquet(out / "shot_motion.parquet", pd.DataFrame(flow_rows))
        st.write_parquet(out / "tracks.parquet", tracks)
        st.write_parquet(out / "actions.parquet", actions)
        st.write_parquet(out / "poses.parquet", poses)
        st.write_text(out / "pose_status.json", json.dumps({"pose": pose.status}))
    seconds = round(time.perf_counter() - started, 2)
    return MaterializeResult(metadata={
        "shots": len(flow_rows), "tracks": len(tracks), "named_tracks": int(tracks["label"].notna().sum()),
        "action_segments": len(actions), "poses": len(poses), "pose": pose.status, "seconds": seconds,
        "flow_backend": flow.name, "detections_from": ", ".join(used) or "faces and moving regions found here",
        "actions": MetadataValue.json(dict(Counter(actions["action"]))),
        "preview": MetadataValue.md(markdown_table(pd.DataFrame(flow_rows)[
            ["shot_id", "motion_energy", "camera_share", "dominant_direction"]].head(20)) if flow_rows else "no shots"),
        "tracks_preview": MetadataValue.md(markdown_table(tracks[["track_id", "label", "source", "start_time",
                                                                  "end_time", "speed"]].head(20))
                                           if len(tracks) else "no tracks"),
        "action_timeline": MetadataValue.md(markdown_image(_action_timeline(tracks, actions), "image/png", "actions")
                                            if len(actions) else "no actions"),
    })


def _action_timeline(tracks: pd.DataFrame, actions: pd.DataFrame, most: int = 40) -> bytes:
    """One row per track (its label or id), its action segments as coloured bars over the film's time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from animproc.temporal.actions import ACTIONS

    shown = list(tracks["track_id"])[:most]
    colour = {a: f"C{i}" for i, a in enumerate(ACTIONS)}
    fig, ax = plt.subplots(figsize=(8, 0.6 + 0.22 * len(shown)))
    for row, track_id in enumerate(shown):
        for a in actions[actions["track_id"] == track_id].itertuples():
            ax.barh(row, a.end_time - a.start_time, left=a.start_time, height=0.7, color=colour.get(a.action, "grey"))
    labels = tracks.set_index("track_id")["label"].to_dict()
    ax.set_yticks(range(len(shown)), [f"{t} {labels.get(t) or ''}" for t in shown], fontsize=6)
    ax.invert_yaxis()
    ax.set_xlabel("seconds", fontsize=7)
    ax.legend(handles=[plt.Rectangle((0, 0), 1, 1, color=c) for c in colour.values()], labels=list(colour),
              fontsize=6, ncol=4, loc="upper right")
    fig.tight_layout()
    return figure_png(fig)


def _track_boxes(tracks: pd.DataFrame | None) -> dict[int, list[tuple[str, np.ndarray]]]:
    """Frame index -> (track id, box x0, y0, x1, y1 as fractions of the picture), from the motion asset's paths."""
    out: dict[int, list[tuple[str, np.ndarray]]] = {}
    if tracks is None:
        return out
    for track_id, path in zip(tracks["track_id"].astype(str), tracks["path"]):
        for f, box in path_boxes(path):
            out.setdefault(f, []).append((track_id, box))
    return out


@asset(partitions_def=film_partitions, group_name=GROUP, code_version="1", deps=["shots", "source_video", "motion"],
       op_tags=step_tags("effects_catalog"), pool=step_pool("effects_catalog"),
       kinds={"parquet", "jpeg"},
       description="Visual effects with timestamps, shot, type and intensity 0-1: lighting (glow, flash, coloured "
                   "light), particles (snow, rain, sparks, dust), weather, camera effects (depth of field, motion "
                   "blur, lens flare, fades, dissolves) and transformations of tracked characters, from measured "
                   "per-frame signals, each confirmed by CLIP when a model is configured; effect-tagged frames; a "
                   "contact sheet per effect type.")
@content_versioned
def effects_catalog(context: AssetExecutionContext, storage: StorageResource, film_config: FilmConfigResource,
                    zero_shot: ZeroShotResource) -> MaterializeResult:
    film = context.partition_key
    st = storage.storage()
    config, _ = film_config.load(film)
    tc = config.temporal
    shots, _, fps = _shots_and_probe(st, film)
    transitions = _optional(st, film, "shots", "transitions.parquet")
    started = time.perf_counter()
    try:
        with st.local_copy(source_path(st, film)) as local:
            scan = scan_effects(local, shots, fps, tc.effects_fps, 2 * tc.analysis_width,
                                _track_boxes(_optional(st, film, "motion", "tracks.parquet")), tc.effect_threshold)
    except AnimprocError as exc:
        raise fail(exc) from None
    changes = transformation_scores(scan.track_colours)
    samples = scan.samples + [{**c, "shot_id": _shot_of(shots, c["frame_index"])} for c in changes]
    events = catalogue(samples, transitions, fps, tc.effect_threshold)
    try:
        confirmer = zero_shot.model(config)
    except AnimprocError as exc:
        raise fail(exc) from None
    confirm_events(events, scan.thumbnails, confirmer, tc.effect_prompts)
    table = pd.DataFrame([{**e, "film": film} for e in events],
                         columns=["film", "type", "category", "shot_id", "start_frame", "end_frame", "start_time",
                                  "end_time", "intensity", "peak", "peak_frame", "samples", "track_id", "detail",
                                  "confirmation"])
    signals = pd.DataFrame(scan.samples)
    tagged = signals[["frame_index", "time", "shot_id"]].copy() if len(signals) else pd.DataFrame(
        columns=["frame_index", "time", "shot_id"])
    if len(signals):
        kinds = [k for k in CATEGORIES if k in signals]
        tagged["effects"] = [json.dumps([k for k in kinds if row[k] >= tc.effect_threshold]) for _, row in signals.iterrows()]
        tagged = tagged[tagged["effects"] != "[]"]
    sheets = {}
    with st.publish_dir(film, "effects_catalog") as out:
        st.write_parquet(out / "effects.parquet", table)
        st.write_parquet(out / "signals.parquet", signals)
        st.write_parquet(out / "tagged_frames.parquet", tagged)
        for kind, group in table.groupby("type"):
            thumbs = [scan.thumbnails[int(f)] for f in group["peak_frame"] if int(f) in scan.thumbnails][:24]
            if thumbs:
                sheet = encode_image(contact_sheet(thumbs, [f"{t:.1f}s" for t in group["start_time"]][:len(thumbs)]))
                st.write_bytes(out / f"sheet_{kind}.jpg", sheet)
                sheets[kind] = sheet
    seconds = round(time.perf_counter() - started, 2)
    metadata = {"effects": len(table), "tagged_frames": len(tagged), "seconds": seconds,
                "confirmed_by": confirmer.name,
                "by_type": MetadataValue.json(dict(Counter(table["type"]))),
                "preview": MetadataValue.md(markdown_table(table[["type", "start_time", "end_time", "intensity"]].head(20))
                                            if len(table) else "no effects found")}
    for kind, sheet in list(sheets.items())[:8]:
        metadata[f"sheet_{kind}"] = MetadataValue.md(markdown_image(sheet, "image/jpeg", kind))
    return MaterializeResult(metadata=metadata)


def _shot_of(shots: pd.DataFrame, frame_index: int) -> int:
    return int(shots["shot_id"].to_numpy()[shot_position(shots["start_frame"].to_numpy(), frame_index)])
