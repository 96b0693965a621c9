"""The four dataset types and how their rows are planned from a film's products (read through the catalogue).

- character_multimodal: a named character's face crop, its RGBA instance, a voice clip of that character (the
  mapped turn nearest in time), its voice features, the name.
- scene_understanding: a shot's keyframe, its audio, scale / camera / scene / act, who is on screen and speaks.
- action_recognition: a track's action segment: the track's crop on the shot's sampled frame nearest the
  segment, the action, the track's and the shot's motion, the segment's audio.
- emotion_analysis: a character's face crop, the prosody and tone of the voice speaking then (when it is that
  character's), and the timeline's context line at that moment.
"""
from __future__ import annotations

import json

import cv2
import numpy as np
import pandas as pd

from animproc.datasets.shards import Plan, TaskSpec
from animproc.timeline import context_line

PROSODY = ["f0_median_hz", "f0_range_semitones", "f0_slope_semitones_per_s", "loudness_mean_db",
           "speaking_rate_syllables_per_s"]
NO_REVIEW = "no identity review yet (characters not materialised): there are no named characters"
NO_FACES = "the film has no faces of named characters"
NO_AUDIO = "the film has no audio stream"
NO_VOICES = "character_voices is not materialised: no voice is mapped to a character"


def _features(**columns):
    def build():
        from datasets import Audio, Image, List, Value

        kinds = {"string": Value("string"), "int": Value("int32"), "float": Value("float32"), "bool": Value("bool"),
                 "image": Image(), "audio": Audio(sampling_rate=16000), "names": List(Value("string"))}
        return {name: kinds[kind] for name, kind in columns.items()}
    return build


TASKS = {t.task: t for t in [
    TaskSpec("dataset_character_multimodal", "character_multimodal", "Characters: face, body, voice",
             "One row per face of a named character: the aligned face crop, the character's RGBA instance "
             "(when the face belongs to one), a voice clip of the character (the mapped speech turn nearest in "
             "time), the character's voice features, the name.",
             ("image-classification", "audio-classification"),
             _features(character="string", face_id="string", instance_id="string", time="float", shot_id="int",
                       scene_id="int", face_image="image", instance_image="image", voice_clip="audio",
                       voice_speaker="string", voice_features="string"),
             ("face_image", "instance_image", "voice_clip")),
    TaskSpec("dataset_scene_understanding", "scene_understanding", "Shots: keyframe, audio, structure",
             "One row per shot: its keyframe (the sharpest kept frame), its audio, shot scale, camera movement, "
             "scene, act, the characters on screen and speaking, and the timeline's context line.",
             ("image-classification", "video-classification"),
             _features(shot_id="int", scene_id="int", act_id="int", start_time="float", end_time="float",
                       scale="string", camera="string", characters="names", speakers="names", effects="names",
                       context="string", keyframe="image", audio="audio"),
             ("keyframe", "audio")),
    TaskSpec("dataset_action_recognition", "action_recognition", "Actions: track crops, motion, audio",
             "One row per action segment of a tracked character: the track's crop on the shot's sampled frame "
             "nearest the segment, the action and its confidence, the track's speed, the shot's motion energy, "
             "the segment's audio.",
             ("video-classification",),
             _features(track_id="string", character="string", action="string", confidence="float",
                       start_time="float", end_time="float", shot_id="int", scene_id="int", track_speed="float",
                       motion_energy="float", crop="image", audio="audio"),
             ("crop", "audio")),
    TaskSpec("dataset_emotion_analysis", "emotion_analysis", "Faces with prosody and context",
             "One row per face of a named character: the face crop, whether the character speaks then, the "
             "prosody and tone of its voice, and the timeline's context line at that moment.",
             ("image-classification", "audio-classification"),
             _features(character="string", face_id="string", time="float", shot_id="int", scene_id="int",
                       speaking="bool", speaker="string", prosody="string", tone="string", context="string",
                       face_image="image"),
             ("face_image",)),
]}
BY_ASSET = {t.name: t for t in TASKS.values()}


class Sources:
    """The products a dataset reads, opened once each."""

    def __init__(self, products, clips=None):
        self.products, self.clips = products, clips
        self.why: dict[str, str] = {}
        self.timeline = products.table("film_timeline", "shots")
        self.slices = products.table("film_timeline", "slices")

    def read(self, stored: str) -> bytes:
        return self.products.resolve(stored).read_bytes()

    def named_faces(self) -> pd.DataFrame:
        """Faces of named characters with their time, shot, scene and instance (empty when there are none)."""
        p = self.products
        if not (p.has("characters") and p.has("identity_clusters", "faces")):
            self.why["characters"] = NO_REVIEW
            return pd.DataFrame(columns=["face_id", "character", "path", "time", "shot_id", "instance_id",
                                         "instance_path"])
        index = p.table("characters")
        faces = index[index["kind"] == "face"].rename(columns={"id": "face_id"})
        clusters = p.table("identity_clusters", "faces")[["face_id", "time", "shot_id", "instance_id"]]
        faces = faces.merge(clusters, on="face_id", how="inner")
        if faces.empty:
            self.why["characters"] = NO_FACES
        instances = index[index["kind"] == "instance"].set_index("id")["path"]
        faces["instance_path"] = faces["instance_id"].map(lambda i: instances.get(i) if isinstance(i, str) else None)
        return faces.sort_values(["time", "face_id"]).reset_index(drop=True)

    def scene_of(self, shot_ids) -> list[int]:
        scenes = self.timeline.set_index("shot_id")["scene_id"]
        return [int(scenes.get(int(s), -1)) for s in shot_ids]

    def voices(self) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """character_voices' mapping, turns and clips (empty without it, and why)."""
        p = self.products
        if not p.has("character_voices", "mapping"):
            self.why["voices"] = NO_VOICES
            return (pd.DataFrame(columns=["speaker", "character", "confidence"]),
                    pd.DataFrame(columns=["start", "end", "speaker", "character"]),
                    pd.DataFrame(columns=["character", "turn_id", "start", "end", "path"]))
        return tuple(p.table("character_voices", t) for t in ("mapping", "turns", "clips"))

    def voice_features(self) -> pd.DataFrame:
        table = self.products.table("voice_features")
        return table.set_index("speaker") if "speaker" in table else table

    def context_at(self, times) -> list[str]:
        """The timeline's context line of the slice holding each time (its shot row's, with the slice's speaker)."""
        shots = self.timeline.set_index("shot_id")
        s = float(self.slices["end"].iloc[0] - self.slices["start"].iloc[0]) if len(self.slices) else 0.1
        out = []
        for t in times:
            k = min(int(t / s), len(self.slices) - 1)
            piece = self.slices.iloc[k] if k >= 0 and len(self.slices) else None
            if piece is None or int(piece["shot_id"]) not in shots.index:
                out.append("")
                continue
            row = shots.loc[int(piece["shot_id"])].to_dict() | {"shot_id": int(piece["shot_id"])}
            row["speakers"] = json.dumps([piece["speaker"]] if isinstance(piece["speaker"], str) else [])
            out.append(context_line(row))
        return out

    def speaker_at(self, times) -> list[str | None]:
        s = float(self.slices["end"].iloc[0] - self.slices["start"].iloc[0]) if len(self.slices) else 0.1
        values = []
        for t in times:
            k = min(int(t / s), len(self.slices) - 1)
            voice = self.slices.iloc[k]["voice"] if k >= 0 and len(self.slices) else None
            values.append(voice if isinstance(voice, str) else None)
        return values

    def audio(self, start: float, end: float) -> dict | None:
        return self.clips.clip(start, end) if self.clips is not None else None


def _image(data: bytes | None) -> dict | None:
    return {"bytes": data, "path": None} if data else None


def _mapped_voice(mapping: pd.DataFrame) -> dict[str, str]:
    """character -> its most confidently mapped speaker."""
    if mapping.empty:
        return {}
    named = mapping[mapping["character"].map(lambda c: isinstance(c, str) and bool(c))]
    named = named.sort_values("confidence", ascending=False).drop_duplicates("character")
    return dict(zip(named["character"], named["speaker"]))


def _features_json(features: pd.DataFrame, speaker) -> str | None:
    if not isinstance(speaker, str) or speaker not in features.index:
        return None
    row = features.loc[speaker]
    return json.dumps({k: (None if pd.isna(v) else (float(v) if isinstance(v, int | float | np.number) else str(v)))
                       for k, v in row.items() if k != "film"})


def character_multimodal(src: Sources) -> Plan:
    faces = src.named_faces()
    mapping, _, clips = src.voices()
    voice_of, features = _mapped_voice(mapping), src.voice_features()
    nearest = []
    for r in faces.itertuples():
        own = clips[clips["character"] == r.character]
        nearest.append(None if own.empty else own.iloc[int(np.argmin(np.abs((own["start"] + own["end"]) / 2 - r.time)))]
                       ["path"])
    rows = pd.DataFrame({
        "character": faces["character"], "face_id": faces["face_id"], "instance_id": faces["instance_id"],
        "time": faces["time"], "shot_id": faces["shot_id"], "scene_id": src.scene_of(faces["shot_id"]),
        "face_path": faces["path"], "instance_path": faces["instance_path"], "clip_path": nearest,
        "voice_speaker": [voice_of.get(c) for c in faces["character"]],
        "voice_features": [_features_json(features, voice_of.get(c)) for c in faces["character"]]})
    film = src.products.film

    def load(row: dict) -> dict:
        clip = row.get("clip_path")
        return {"face_image": _image(src.read(row["face_path"])),
                "instance_image": _image(src.read(row["instance_path"])) if isinstance(row["instance_path"], str)
                else None,
                "voice_clip": {"bytes": src.read(f"{film}/character_voices/{clip}"), "path": None}
                if isinstance(clip, str) else None}
    return Plan(rows, load, src.why)


def _keyframes(products) -> dict[int, str]:
    """Per shot, the sharpest kept processed frame."""
    manifest = products.table("frames_processed")
    kept = manifest[manifest["kept"].fillna(False).astype(bool)] if "kept" in manifest else manifest
    kept = kept.sort_values("sharpness", ascending=False).drop_duplicates("shot_id")
    return {int(s): p for s, p in zip(kept["shot_id"], kept["path"])}


def scene_understanding(src: Sources) -> Plan:
    t = src.timeline
    keyframes = _keyframes(src.products)
    rows = pd.DataFrame({
        "shot_id": t["shot_id"], "scene_id": t["scene_id"], "act_id": t["act_id"], "start_time": t["start_time"],
        "end_time": t["end_time"], "scale": t["scale"], "camera": t["camera"],
        "characters": t["on_screen"].map(json.loads), "speakers": t["speakers"].map(json.loads),
        "effects": t["effects"].map(json.loads), "context": [context_line(r) for r in t.to_dict("records")],
        "keyframe_path": [keyframes.get(int(s)) for s in t["shot_id"]]})
    if src.clips is None:
        src.why["audio"] = NO_AUDIO

    def load(row: dict) -> dict:
        path = row["keyframe_path"]
        return {"keyframe": _image(src.read(path)) if isinstance(path, str) else None,
                "audio": src.audio(row["start_time"], row["end_time"])}
    return Plan(rows, load, src.why)


def _box_at(path_json: str, frame_index: int) -> list[float] | None:
    """The track's box (cx, cy, w, h as picture fractions) at a frame, from its nearest sample."""
    path = json.loads(path_json) if isinstance(path_json, str) else []
    if not path:
        return None
    return list(min(path, key=lambda p: abs(p[0] - frame_index))[1:5])


def _crop(image: bytes, box: list[float]) -> bytes | None:
    picture = cv2.imdecode(np.frombuffer(image, np.uint8), cv2.IMREAD_COLOR)
    if picture is None or box is None:
        return None
    h, w = picture.shape[:2]
    cx, cy, bw, bh = box
    x0, x1 = int(max(0, (cx - bw / 2) * w)), int(min(w, (cx + bw / 2) * w))
    y0, y1 = int(max(0, (cy - bh / 2) * h)), int(min(h, (cy + bh / 2) * h))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    return cv2.imencode(".jpg", picture[y0:y1, x0:x1], [cv2.IMWRITE_JPEG_QUALITY, 92])[1].tobytes()


def action_recognition(src: Sources) -> Plan:
    p = src.products
    actions, tracks = p.table("motion", "actions"), p.table("motion", "tracks").set_index("track_id")
    energy = p.table("motion", "shot_motion").set_index("shot_id")["motion_energy"]
    manifest = p.table("frames_processed")
    frame_of, box = [], []
    for r in actions.itertuples():
        middle = (r.start_time + r.end_time) / 2
        in_shot = manifest[manifest["shot_id"] == r.shot_id]
        if in_shot.empty or r.track_id not in tracks.index:
            frame_of.append(None)
            box.append(None)
            continue
        pick = in_shot.iloc[int(np.argmin(np.abs(in_shot["time"].to_numpy(float) - middle)))]
        frame_of.append(pick["path"])
        box.append(_box_at(tracks.loc[r.track_id, "path"], int(pick["frame_index"])))
    rows = pd.DataFrame({
        "track_id": actions["track_id"], "character": actions["label"], "action": actions["action"],
        "confidence": actions["confidence"], "start_time": actions["start_time"], "end_time": actions["end_time"],
        "shot_id": actions["shot_id"], "scene_id": src.scene_of(actions["shot_id"]),
        "track_speed": [float(tracks.loc[t, "speed"]) if t in tracks.index else None for t in actions["track_id"]],
        "motion_energy": [float(energy.get(s)) if s in energy.index else None for s in actions["shot_id"]],
        "frame_path": frame_of, "box": box})
    if actions.empty:
        src.why["actions"] = "motion found no action segments (no tracked characters)"
    if src.clips is None:
        src.why["audio"] = NO_AUDIO

    def load(row: dict) -> dict:
        frame = row["frame_path"]
        return {"crop": _image(_crop(src.read(frame), row["box"])) if isinstance(frame, str) else None,
                "audio": src.audio(row["start_time"], row["end_time"])}
    return Plan(rows, load, src.why)


def emotion_analysis(src: Sources) -> Plan:
    faces = src.named_faces()
    mapping, _, _ = src.voices()
    voice_of, features = _mapped_voice(mapping), src.voice_features()
    speaker_then = src.speaker_at(faces["time"])
    speaking, voice = [], []
    for character, now in zip(faces["character"], speaker_then):
        own = voice_of.get(character)
        speaking.append(own is not None and now == own)
        voice.append(own)
    prosody = []
    for v in voice:
        full = _features_json(features, v)
        prosody.append(None if full is None else json.dumps({k: json.loads(full).get(k) for k in PROSODY}))
    tone = [str(features.loc[v, "tone"]) if isinstance(v, str) and v in features.index and "tone" in features
            else None for v in voice]
    rows = pd.DataFrame({
        "character": faces["character"], "face_id": faces["face_id"], "time": faces["time"],
        "shot_id": faces["shot_id"], "scene_id": src.scene_of(faces["shot_id"]), "speaking": speaking,
        "speaker": voice, "prosody": prosody, "tone": tone, "context": src.context_at(faces["time"]),
        "face_path": faces["path"]})

    def load(row: dict) -> dict:
        return {"face_image": _image(src.read(row["face_path"]))}
    return Plan(rows, load, src.why)


PLANNERS = {"character_multimodal": character_multimodal, "scene_understanding": scene_understanding,
            "action_recognition": action_recognition, "emotion_analysis": emotion_analysis}
# the model families whose output is a column of each task (for the `models` lineage column)
MODEL_COLUMNS = {
    "character_multimodal": {"face_analyzer": ["face_image", "character", "time"],
                             "segmenter": ["instance_image"], "inpainter": ["instance_image"],
                             "diarizer": ["voice_clip", "voice_speaker"], "voice_features": ["voice_features"]},
    "scene_understanding": {"shot_detector": ["shot_id", "start_time", "end_time", "keyframe"],
                            "face_analyzer": ["scale", "characters"], "optical_flow": ["camera"],
                            "diarizer": ["speakers"]},
    "action_recognition": {"action_recognizer": ["action", "confidence"], "optical_flow": ["track_speed",
                                                                                           "motion_energy"],
                           "face_analyzer": ["crop", "character"]},
    "emotion_analysis": {"face_analyzer": ["face_image", "character"], "diarizer": ["speaking", "speaker"],
                         "voice_features": ["prosody", "tone"]},
}
