"""Temporal analysis, partitioned by film: shot_structure, motion, effects_catalog.

They run before the review gates and again after the identity review (REVIEW_READERS): the reviewed products
(instances_filtered, faces, identity_clusters, characters) are declared optional inputs, so the graph shows
them upstream, a first run without them lists them under `inputs_missing`, and the UI marks these assets stale
once the reviews have produced them."""
from collections import Counter

from dagster import AssetExecutionContext, MetadataValue

from animproc.image.plots import action_timeline, structure_timeline
from animproc.image.preview import contact_sheet, encode_image, markdown_image, markdown_table
from animproc.temporal.effects import catalogue, scan_effects, transformation_scores
from animproc.temporal.motion import scan_motion
from animproc.temporal.stages import (effect_tables, film_structure, fps_of, known_detections, motion_tables,
                                      shot_of, track_boxes)
from animproc.temporal.structure import scan_structure
from animproc.temporal.subject_mask import faceless_subjects
from animproc.temporal.zero_shot import confirm_events
from animproc.video.shots import dissolve_ranges
from assets import film_asset, film_step
from resources.action_recognizer import ActionRecognizerResource
from resources.face_analyzer import FaceAnalyzerResource
from resources.film_config import FilmConfigResource
from resources.optical_flow import OpticalFlowResource
from resources.pose_estimator import PoseEstimatorResource
from resources.storage import StorageResource
from resources.zero_shot import ZeroShotResource

GROUP = "temporal"
REVIEWED = ["instances_filtered", "faces", "identity_clusters", "characters"]  # exist only after the reviews


def _counts(table, column: str) -> MetadataValue:
    return MetadataValue.json(dict(Counter(table[column])) if len(table) else {})


@film_asset(code_version="4", group_name=GROUP, deps=["shots", "source_video", "motion", "audio"], optional=REVIEWED, kinds={"parquet", "json"},
            description="Per shot: camera movement (static, pan, tilt, zoom / dolly, roll, handheld, complex) from "
                        "global motion with the tracked characters left out (phase correlation where too few "
                        "corners are tracked); shot scale from the largest face (the faces asset's when it sees "
                        "the shot's faces on two frames or more, else the scan's own looks), "
                        "else the tallest instance a person kept in the review, else the motion asset's poses and "
                        "face tracks, else poses confirmed on the person mask of most faceless looks, else a hand "
                        "as long as a close framing's face on most faceless looks, else "
                        "card (no_subject) or view (extreme_long); each with a confidence and its evidence. Scenes "
                        "(colour, fades, characters), acts (with the audio's loudness), pacing, a scene graph.")
def shot_structure(context: AssetExecutionContext, storage: StorageResource, film_config: FilmConfigResource,
                   face_analyzer: FaceAnalyzerResource):
    with film_step(context, storage, film_config) as step:
        config, products = step.config, step.products
        shots = products.table("shots", "shots")
        fps = fps_of(products.json("source_video", "probe"))
        detector = face_analyzer.model(config).detector
        subjects = faceless_subjects(hands=config.temporal.faceless_hands) if config.temporal.person_mask else None
        dissolves = dissolve_ranges(products.table("shots", "transitions"))
        foreground = {f: [box for _, box in boxes] for f, boxes in  # without motion: nothing left out
                      track_boxes(products.optional_table("motion", "tracks")).items()}
        with step.storage.local_copy(products.source_media()) as local:
            found = scan_structure(local, shots, fps, config.temporal, detector, foreground=foreground,
                                   dissolves=dissolves, find_subjects=subjects, progress=step.progress)
        table, graph, stats, duration = film_structure(products, shots, found, config)
        with products.publish("shot_structure") as out:
            out.table("shot_structure", table)
            out.json("scenes", {"film": step.film, "pacing": stats, **graph})
        preview = table[["shot_id", "start_time", "end_time", "scale", "camera", "scene_id"]].head(20)
        return step.result({
            "shots": len(table), "scenes": len(graph["nodes"]), "seconds": step.seconds(),
            "acts": len({n["act"] for n in graph["nodes"]}), "camera": _counts(table, "camera"),
            "scale": _counts(table, "scale"), "pacing": MetadataValue.json(stats),
            "person_mask": subjects.status if subjects is not None else "not used",
            "timeline": MetadataValue.md(markdown_image(structure_timeline(table, duration), "image/png", "structure")
                                         if len(table) else "no shots"),
            "preview": MetadataValue.md(markdown_table(preview) if len(table) else "no shots")})


@film_asset(code_version="3", group_name=GROUP, deps=["shots", "source_video"], optional=REVIEWED, kinds={"parquet"},
            description="Per shot: optical flow (motion energy, dominant direction of the picture's motion, camera "
                        "vs subject split), and per analysed frame its flow pair's magnitude, camera and residual "
                        "parts (frame widths per second). Character tracks within shots over the reviewed instances "
                        "and faces when the film has them (names once the identity review named them), else over "
                        "faces and moving regions found here; per track duration, path and speed. Pose per track "
                        "(embedded BlazePose, 33 points with the COCO-17 ones beside them, unless another backend is "
                        "chosen), actions per track segment.")
def motion(context: AssetExecutionContext, storage: StorageResource, film_config: FilmConfigResource,
           optical_flow: OpticalFlowResource, pose_estimator: PoseEstimatorResource,
           action_recognizer: ActionRecognizerResource, face_analyzer: FaceAnalyzerResource):
    with film_step(context, storage, film_config) as step:
        config, products = step.config, step.products
        shots, probe = products.table("shots", "shots"), products.json("source_video", "probe")
        detections, used = known_detections(products, int(probe.get("width") or 1), int(probe.get("height") or 1))
        flow, pose = optical_flow.model(config), pose_estimator.model(config)
        detect_faces = None if "faces" in used else face_analyzer.model(config).detector
        task = step.progress.task("motion", int(shots["end_frame"].max()) + 1 if len(shots) else None, "frames")
        ends = dict(zip(shots["shot_id"], shots["end_frame"]))
        with step.storage.local_copy(products.source_media()) as local:
            results = scan_motion(local, shots, fps_of(probe), config.temporal, flow, detections, detect_faces, pose,
                                  action_recognizer.model(config),
                                  on_shot=lambda r: task.update(int(ends[r.shot_id]) + 1),
                                  dissolves=dissolve_ranges(products.table("shots", "transitions")))
        task.finish()
        tables = motion_tables(step.film, results, flow.name)
        with products.publish("motion") as out:
            for name, table in tables.items():
                out.table(name, table)
            out.json("pose_status", {"pose": pose.status})
        flows, tracks, actions = tables["shot_motion"], tables["tracks"], tables["actions"]
        return step.result({
            "shots": len(flows), "flow_frames": len(tables["frame_flow"]), "tracks": len(tracks),
            "named_tracks": int(tracks["label"].notna().sum()),
            "action_segments": len(actions), "poses": len(tables["poses"]), "pose": pose.status,
            "seconds": step.seconds(), "flow_backend": flow.name,
            "detections_from": ", ".join(used) or "faces and moving regions found here",
            "actions": MetadataValue.json(dict(Counter(actions["action"]))),
            "preview": MetadataValue.md(markdown_table(flows[["shot_id", "motion_energy", "camera_share",
                                                              "dominant_direction"]].head(20)) if len(flows)
                                        else "no shots"),
            "tracks_preview": MetadataValue.md(markdown_table(tracks[["track_id", "label", "source", "start_time",
                                                                      "end_time", "speed"]].head(20))
                                               if len(tracks) else "no tracks"),
            "action_timeline": MetadataValue.md(markdown_image(action_timeline(tracks, actions), "image/png",
                                                               "actions") if len(actions) else "no actions")})


@film_asset(code_version="1", group_name=GROUP, deps=["shots", "source_video", "motion"], kinds={"parquet", "jpeg"},
            description="Visual effects with timestamps, shot, type and intensity 0-1: lighting (glow, flash, "
                        "coloured light), particles (snow, rain, sparks, dust), weather, camera effects (depth of "
                        "field, motion blur, lens flare, fades, dissolves) and transformations of tracked "
                        "characters, from measured per-frame signals, each confirmed by CLIP when a model is "
                        "configured; effect-tagged frames; a contact sheet per effect type.")
def effects_catalog(context: AssetExecutionContext, storage: StorageResource, film_config: FilmConfigResource,
                    zero_shot: ZeroShotResource):
    with film_step(context, storage, film_config) as step:
        tc, products = step.config.temporal, step.products
        shots, fps = products.table("shots", "shots"), fps_of(products.json("source_video", "probe"))
        with step.storage.local_copy(products.source_media()) as local:
            scan = scan_effects(local, shots, fps, tc.effects_fps, 2 * tc.analysis_width,
                                track_boxes(products.table("motion", "tracks")), tc.effect_threshold, step.progress)
        changes = [{**c, "shot_id": shot_of(shots, c["frame_index"])} for c in transformation_scores(scan.track_colours)]
        events = catalogue(scan.samples + changes, products.table("shots", "transitions"), fps, tc.effect_threshold)
        confirmer = zero_shot.model(step.config)
        confirm_events(events, scan.thumbnails, confirmer, tc.effect_prompts)
        table, signals, tagged = effect_tables(step.film, events, scan.samples, tc.effect_threshold)
        sheets = {}
        with products.publish("effects_catalog") as out:
            for name, frame in (("effects", table), ("signals", signals), ("tagged_frames", tagged)):
                out.table(name, frame)
            for kind, group in table.groupby("type"):
                thumbs = [scan.thumbnails[int(f)] for f in group["peak_frame"] if int(f) in scan.thumbnails][:24]
                if thumbs:
                    labels = [f"{t:.1f}s" for t in group["start_time"]][:len(thumbs)]
                    sheets[kind] = encode_image(contact_sheet(thumbs, labels))
                    out.blob(f"sheet_{kind}.jpg", sheets[kind])
        preview = table[["type", "start_time", "end_time", "intensity"]].head(20)
        return step.result({
            "effects": len(table), "tagged_frames": len(tagged), "seconds": step.seconds(),
            "confirmed_by": confirmer.name,
            "by_type": MetadataValue.json(dict(Counter(table["type"]))),
            "preview": MetadataValue.md(markdown_table(preview) if len(table) else "no effects found"),
            **{f"sheet_{k}": MetadataValue.md(markdown_image(s, "image/jpeg", k)) for k, s in list(sheets.items())[:8]}})
