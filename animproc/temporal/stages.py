"""The temporal stages' film-level work: what the film already knows of its characters (reviewed instances,
faces, names once the identity review named them), shot structure rows with scale fallback, scenes and acts,
motion and effects tables. Inputs are read through a `FilmProducts` reader; the products that exist only after
the reviews are optional inputs (each looked up, and recorded as missing when absent)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd

from animproc.catalogue import FilmProducts
from animproc.config import FilmConfig
from animproc.image.boxes import centre_inside
from animproc.temporal.effects import CATEGORIES
from animproc.temporal.structure import (closer_figure, face_ratios, faces_from_elsewhere, figure_scale, group_acts,
                                         group_scenes, hand_scale, narrative_graph, pacing, person_scale,
                                         pose_scale, scene_loudness, shot_scale, view_scale)
from animproc.temporal.tracks import Detection, face_detection, path_boxes
from animproc.video.shots import dissolve_ranges, shot_position

STRUCTURE_COLUMNS = ["film", "shot_id", "start_frame", "end_frame", "start_time", "end_time", "duration", "scale",
                     "scale_confidence", "scale_evidence", "camera", "camera_confidence", "camera_evidence"]
FLOW_COLUMNS = ["film", "shot_id", "flow_pairs", "motion_energy", "camera_motion", "subject_motion", "camera_share",
                "dominant_direction", "flow_backend"]
FRAME_FLOW_TYPES = {"film": "object", "shot_id": "int64", "frame_index": "int64", "time": "float64",
                    "interval": "float64", "magnitude": "float64", "camera_magnitude": "float64",
                    "residual_magnitude": "float64"}
TRACK_COLUMNS = ["film", "track_id", "shot_id", "label", "source", "start_frame", "end_frame", "start_time",
                 "end_time", "duration", "observed", "samples", "speed", "path", "instance_ids"]
ACTION_COLUMNS = ["film", "track_id", "shot_id", "label", "start_time", "end_time", "action", "confidence", "method",
                  "evidence"]
POSE_COLUMNS = ["film", "track_id", "shot_id", "frame_index", "time", "layout", "keypoints", "coco17"]
EFFECT_COLUMNS = ["film", "type", "category", "shot_id", "start_frame", "end_frame", "start_time", "end_time",
                  "intensity", "peak", "peak_frame", "samples", "track_id", "detail", "confirmation"]


def fps_of(probe: dict) -> float:
    return float(probe.get("fps") or 24.0)


def fade_starts(shots: pd.DataFrame, transitions: pd.DataFrame | None) -> set[int]:
    """Positions (in `shots`) of the shots that begin by fading in from black."""
    if transitions is None or not len(transitions):
        return set()
    starts = shots["start_frame"].to_numpy()
    out = set()
    for r in transitions[transitions["kind"] == "fade_in"].itertuples():
        if r.boundary is not None and not pd.isna(r.boundary):
            out.add(int(np.argmin(np.abs(starts - int(r.boundary)))))
    return out


def track_boxes(tracks: pd.DataFrame | None) -> dict[int, list[tuple[str, np.ndarray]]]:
    """Frame index -> (track id, box x0, y0, x1, y1 as fractions of the picture), from the motion asset's paths."""
    out: dict[int, list[tuple[str, np.ndarray]]] = {}
    if tracks is None:
        return out
    for track_id, path in zip(tracks["track_id"].astype(str), tracks["path"]):
        for f, box in path_boxes(path):
            out.setdefault(f, []).append((track_id, box))
    return out


def shot_of(shots: pd.DataFrame, frame_index: int) -> int:
    return int(shots["shot_id"].to_numpy()[shot_position(shots["start_frame"].to_numpy(), frame_index)])


class KnownCharacters:
    """The reviewed products a temporal stage may use, each an optional input: reviewed instances, faces, the
    characters' index (names) and the identity clusters (cluster numbers before the names)."""

    def __init__(self, products: FilmProducts):
        self.instances = products.optional_table("instances_filtered")
        self.faces = products.optional_table("faces")
        index = products.optional_table("characters")
        clusters = products.optional_table("identity_clusters", "instances")
        self.index = index if index is not None and len(index) else None
        self.clusters = clusters if clusters is not None and len(clusters) else None

    def names(self, kind: str) -> dict[str, str] | None:
        """face or instance id (`kind`) -> character name; None before the identity review has named any."""
        if self.index is None:
            return None
        named = self.index[self.index["kind"] == kind]
        return dict(zip(named["id"].astype(str), named["character"].astype(str)))

    def instance_names(self) -> dict[str, str]:
        """instance id -> character name (after the identity review) or identity cluster."""
        names = self.names("instance")
        if names is not None:
            return names
        if self.clusters is not None:
            return {str(i): f"cluster {int(c)}" for i, c in zip(self.clusters["instance_id"], self.clusters["cluster"])
                    if int(c) >= 0}
        return {}

    def by_shot(self) -> dict[int, set[str]]:
        """Named characters (or identity clusters) seen in each shot, from the reviewed instances."""
        names = self.instance_names()
        out: dict[int, set[str]] = {}
        if self.instances is not None:
            for shot_id, instance_id in zip(self.instances["shot_id"], self.instances["instance_id"].astype(str)):
                if instance_id in names:
                    out.setdefault(int(shot_id), set()).add(names[instance_id])
        return out

    def unconfirmed(self) -> set[str]:
        """The reviewed instances that no person kept: `review: auto`, or left pending, so only the instance
        classifier's prediction says they are characters. On a faceless region that prediction is a guess
        from its shape (a river bank, a rock, a credits block pass it), so their boxes are no figure to scale a
        shot by; a person's keep is. Products without `decided_by` count as kept by a person."""
        if self.instances is None or "decided_by" not in self.instances:
            return set()
        return set(self.instances.loc[self.instances["decided_by"] != "person", "instance_id"].astype(str))

    def largest_figures(self, frame_height: float) -> dict[int, list[tuple[float, float]]]:
        """Per shot: (top, bottom) of the tallest character instance a person kept (`unconfirmed`) on each of
        its frames, as shares of the picture height."""
        out: dict[int, list[tuple[float, float]]] = {}
        if self.instances is None or not len(self.instances):
            return out
        confirmed = self.instances[~self.instances["instance_id"].astype(str).isin(self.unconfirmed())]
        for (shot_id, _), g in confirmed.groupby(["shot_id", "frame_index"]):
            r = g.loc[g["bbox_h"].idxmax()]
            out.setdefault(int(shot_id), []).append((float(r.bbox_y) / frame_height,
                                                     float(r.bbox_y + r.bbox_h) / frame_height))
        return out

    def detections(self, width: int, height: int) -> tuple[dict[int, list[Detection]], list[str]]:
        """What the film already knows of its characters, by frame index: reviewed instances (with names once
        the identity review has named them) and faces (as the figures they imply in the `width` x `height`
        picture; all of them: the size and sharpness limits are for clustering, not for being there). A face
        inside an instance is that instance, except where an instance holds two faces or more: it is a group,
        and the faces stand for its characters. Returns the detections and the sources used."""
        out: dict[int, list[Detection]] = {}
        used = []
        if self.instances is not None and len(self.instances):
            names = self.instance_names()
            for r in self.instances.itertuples():
                box = np.array([r.bbox_x, r.bbox_y, r.bbox_x + r.bbox_w, r.bbox_y + r.bbox_h], np.float64)
                out.setdefault(int(r.frame_index), []).append(
                    Detection(box, 1.0, "instance", str(r.instance_id), names.get(str(r.instance_id))))
            used.append("instances_filtered")
        if self.faces is not None and len(self.faces):
            face_names = self.names("face") or {}
            for frame_index, g in self.faces.groupby("frame_index"):
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


def known_detections(products: FilmProducts, width: int, height: int) -> tuple[dict[int, list[Detection]], list[str]]:
    return KnownCharacters(products).detections(width, height)


def guessed_tracks(tracks: pd.DataFrame | None, unconfirmed: set[str] | None, lone_shots: set[int] | None = None
                   ) -> set[str]:
    """The tracks that hold instances, all of them `unconfirmed` (see `KnownCharacters.unconfirmed`; a moving
    region's track joins the instances it meets), and the face tracks of the shots whose only face is a
    `lone_face`: a track built on a guess is that guess."""
    if tracks is None or not {"source", "instance_ids", "track_id", "shot_id"} <= set(tracks.columns):
        return set()
    unconfirmed, lone_shots = unconfirmed or set(), lone_shots or set()
    out = set()
    for track_id, source, ids, shot_id in zip(tracks["track_id"], tracks["source"], tracks["instance_ids"],
                                              tracks["shot_id"]):
        held = set(json.loads(ids))
        if (held and held <= unconfirmed) or (source == "face" and int(shot_id) in lone_shots):
            out.add(str(track_id))
    return out


def motion_figures(motion: dict[str, pd.DataFrame] | None, unconfirmed: set[str] | None = None,
                   lone_shots: set[int] | None = None) -> tuple[dict, dict]:
    """From the motion product's tables: per shot the (frame, COCO-17 keypoints) of its poses, and by sampled
    frame the (top, bottom) of its tallest face or instance track's box, as shares of the picture height.
    A track built on a guess (`guessed_tracks`: on instances no person confirmed, or on a lone face) gives
    neither: BlazePose asked on a region the classifier took for a character (a tower, a rock) can return a
    body, and its box is no figure."""
    poses: dict[int, list] = {}
    boxes: dict[int, list] = {}
    if not motion:
        return poses, boxes
    tracks = motion.get("tracks")
    guessed = guessed_tracks(tracks, unconfirmed, lone_shots)
    table = motion.get("poses")
    if table is not None and len(table):
        if guessed and "track_id" in table:
            table = table[~table["track_id"].astype(str).isin(guessed)]
        column = "coco17" if "coco17" in table else "keypoints"  # a motion product from before the BlazePose default
        for shot_id, frame, points in zip(table["shot_id"], table["frame_index"], table[column]):
            poses.setdefault(int(shot_id), []).append((int(frame), np.array(json.loads(points), np.float64)))
    if tracks is not None and "source" in tracks:  # a moving region is not a figure: its box is where the flow
        tracks = tracks[tracks["source"] != "motion"]  # differs (animated titles, a passing wing), not a body
    if tracks is not None and guessed:
        tracks = tracks[~tracks["track_id"].astype(str).isin(guessed)]
    if tracks is not None and len(tracks):
        for shot_id, g in tracks.groupby("shot_id"):
            tallest: dict[int, tuple[float, float]] = {}
            for path in g["path"]:
                for f, box in path_boxes(path):
                    if f not in tallest or box[3] - box[1] > tallest[f][1] - tallest[f][0]:
                        tallest[f] = (float(box[1]), float(box[3]))
            boxes[int(shot_id)] = tallest
    return poses, boxes


def subject_scale(found: dict, figures: list, poses: list, track_boxes_: dict, config: FilmConfig
                  ) -> tuple[str, float, dict]:
    """A shot's scale from the best evidence it has: the largest face (unless a tracked figure's pose is cut
    closer, `closer_figure`); else the tallest instance a person kept;
    else (unless `temporal.faceless_scale` is `none`) its tracked figures' poses, their boxes (by frame), for
    a shot with no figure at all the poses confirmed on its faceless looks' person masks (`person_scale`), then
    the hands they show (`hand_scale`), and else whether it is a card or a view. With
    `temporal.faces_from_elsewhere`, a face that `faces_from_elsewhere` finds to be another shot's is set aside,
    and the shot is scaled from the evidence between its faceless looks."""
    t = config.temporal
    middle = faces_from_elsewhere(found.get("face_looks", []), t.scene_similarity) if t.faces_from_elsewhere else None
    if middle is not None:
        inside = lambda f: middle[0] <= f <= middle[1]  # noqa: E731
        label, confidence, evidence = subject_scale(
            {**found, "face_ratios": [], "face_looks": []}, figures, [p for p in poses if inside(p[0])],
            {f: b for f, b in track_boxes_.items() if inside(f)}, config)
        return label, confidence, {**evidence, "face_set_aside": True}
    scale = shot_scale(found["face_ratios"], t)
    if scale[0] != "no_subject":
        by_pose = pose_scale(poses, t, cut_by_frame=True) if poses and t.faceless_scale != "none" else None
        return closer_figure(scale, by_pose)
    if figures:
        return figure_scale(figures, t)
    if t.faceless_scale == "none":
        return scale
    by_pose = pose_scale(poses, t) if poses else None
    if by_pose:
        return by_pose[0], by_pose[1], {**by_pose[2], "from": "pose"}
    if track_boxes_:
        label, confidence, evidence = figure_scale(list(track_boxes_.values()), t)
        return label, round(confidence * 0.8, 3), {**evidence, "from": "tracks"}
    by_person = person_scale(found.get("subject_looks", []), t) if t.person_mask else None
    if by_person:
        return by_person[0], by_person[1], {**by_person[2], "from": "person_mask"}
    by_hand = hand_scale(found.get("subject_looks", []), t) if t.faceless_hands else None
    if by_hand:
        return by_hand[0], by_hand[1], {**by_hand[2], "from": "hands"}
    return view_scale(found.get("detail", 0.0), t)


def lone_face(product_ratios: list[float]) -> bool:
    """Whether the faces product shows a shot's face on one frame only. The product runs the detector at full
    size on every kept frame at a low threshold, for recall; on rocks, a tower or smoke that finds a lone face
    now and then (scores 0.37 to 0.55 on the labelled clips, where true blurred faces also score 0.31), and one
    such face would decide the shot's scale over every faceless cue. The scan's own looks (three a shot at
    least) then decide instead, and where they find no face, the product's face tracks in the shot are no
    figure either."""
    return len(product_ratios) < 2


def structure_rows(film: str, shots: pd.DataFrame, found: dict, known: KnownCharacters, frame_height: float,
                   dissolves: list, config: FilmConfig, motion: dict[str, pd.DataFrame] | None = None) -> pd.DataFrame:
    """One row per shot: camera movement, and scale from the largest face (the faces product's boxes when it
    exists: it looked more often and at full resolution; the scan's own looks where it sees a `lone_face`),
    else the tallest instance a person kept, else the motion product's figures (poses, track boxes; `motion`:
    its tables; not those on guesses, `guessed_tracks`), else the faceless looks' person or hands, else card or
    view."""
    lone = set()
    if known.faces is not None:
        for shot_id, ratios in face_ratios(known.faces, frame_height, dissolves).items():
            if shot_id not in found:
                continue
            if lone_face(ratios):
                if not found[shot_id]["face_ratios"]:
                    lone.add(shot_id)
            else:
                found[shot_id]["face_ratios"], found[shot_id]["face_looks"] = ratios, []
    figures = known.largest_figures(frame_height)
    poses, boxes = motion_figures(motion, known.unconfirmed(), lone)
    rows = []
    for s in shots.itertuples():
        sid = int(s.shot_id)
        f = found[sid]
        scale, scale_conf, scale_ev = subject_scale(f, figures.get(sid, []), poses.get(sid, []), boxes.get(sid, {}),
                                                    config)
        cam = f["camera"]
        rows.append({"film": film, "shot_id": sid, "start_frame": int(s.start_frame),
                     "end_frame": int(s.end_frame), "start_time": float(s.start_time), "end_time": float(s.end_time),
                     "duration": float(s.end_time - s.start_time), "scale": scale, "scale_confidence": scale_conf,
                     "scale_evidence": json.dumps(scale_ev), "camera": cam.label, "camera_confidence": cam.confidence,
                     "camera_evidence": json.dumps(cam.evidence)})
    return pd.DataFrame(rows, columns=STRUCTURE_COLUMNS)


def _scene_hists(table: pd.DataFrame, found: dict) -> list[np.ndarray | None]:
    out = []
    for _, g in table.groupby("scene_id", sort=True):
        hs = [found[int(s)]["hist"] for s in g["shot_id"] if found[int(s)]["hist"] is not None]
        out.append(np.sum(hs, axis=0) if hs else None)
    return out


def film_structure(products: FilmProducts, shots: pd.DataFrame, found: dict, config: FilmConfig
                   ) -> tuple[pd.DataFrame, dict, dict, float]:
    """The shot structure table (scale, camera, scene and act per shot), the scene graph (scenes with their act
    and loudness, edges by shared characters), the pacing statistics and the film's duration."""
    probe = products.json("source_video", "probe")
    transitions = products.table("shots", "transitions")
    known = KnownCharacters(products)
    motion = {name: products.optional_table("motion", name) for name in ("tracks", "poses")}
    table = structure_rows(products.film, shots, found, known, float(probe.get("height") or 1),
                           dissolve_ranges(transitions), config, motion)
    cast = known.by_shot()
    table["scene_id"] = group_scenes([found[int(s)]["hist"] for s in shots["shot_id"]],
                                     config.temporal.scene_similarity,
                                     [cast.get(int(s), set()) for s in shots["shot_id"]],
                                     fade_starts(shots, transitions)) if len(table) else []
    duration = float(probe.get("duration_s") or (table["end_time"].max() if len(table) else 0.0))
    stats = pacing(table, duration) if len(table) else {}
    graph = narrative_graph(table, cast) if len(table) else {"nodes": [], "edges": []}
    wav = products.file("audio", "analysis")
    table["act_id"] = pd.Series(dtype="Int64")
    if graph["nodes"]:
        loudness = scene_loudness(wav, graph["nodes"])
        acts = group_acts(graph["nodes"], _scene_hists(table, found), loudness, config.temporal.act_min_scenes)
        for node, act, loud in zip(graph["nodes"], acts, loudness or [None] * len(acts)):
            node["act"], node["loudness_db"] = act, loud
        table["act_id"] = table["scene_id"].map({n["scene_id"]: n["act"] for n in graph["nodes"]})
    return table, graph, stats, duration


def motion_tables(film: str, results, flow_name: str) -> dict[str, pd.DataFrame]:
    """The motion product's tables from `scan_motion`'s per-shot results."""
    return {
        "shot_motion": pd.DataFrame([{"film": film, "shot_id": r.shot_id, **r.flow, "flow_backend": flow_name}
                                     for r in results], columns=FLOW_COLUMNS),
        "frame_flow": pd.DataFrame([{"film": film, **f} for r in results for f in r.frames],
                                   columns=list(FRAME_FLOW_TYPES)).astype(FRAME_FLOW_TYPES),
        "tracks": pd.DataFrame([{**t, "film": film, "path": json.dumps(t["path"]),
                                 "instance_ids": json.dumps(t["instance_ids"])} for r in results for t in r.tracks],
                               columns=TRACK_COLUMNS),
        "actions": pd.DataFrame([{**a, "film": film, "evidence": json.dumps(a["evidence"])}
                                 for r in results for a in r.actions], columns=ACTION_COLUMNS),
        "poses": pd.DataFrame([{**p, "film": film, "keypoints": json.dumps(p["keypoints"]),
                                "coco17": json.dumps(p["coco17"])}
                               for r in results for p in r.poses], columns=POSE_COLUMNS)}


def effect_tables(film: str, events: list[dict], samples: list[dict], threshold: float
                  ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The effects table, the per-frame signals and the frames tagged with the effects above `threshold`."""
    table = pd.DataFrame([{**e, "film": film} for e in events], columns=EFFECT_COLUMNS)
    signals = pd.DataFrame(samples) if samples else pd.DataFrame(columns=["frame_index", "time", "shot_id"])
    tagged = signals[["frame_index", "time", "shot_id"]].copy() if len(signals) else pd.DataFrame(
        columns=["frame_index", "time", "shot_id"])
    if len(signals):
        kinds = [k for k in CATEGORIES if k in signals]
        tagged["effects"] = [json.dumps([k for k in kinds if row[k] >= threshold]) for _, row in signals.iterrows()]
        tagged = tagged[tagged["effects"] != "[]"]
    else:
        tagged["effects"] = pd.Series(dtype=str)
    return table, signals, tagged
