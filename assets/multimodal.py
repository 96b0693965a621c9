"""Multimodal assets, partitioned by film: active_speakers -> character_voices, av_sync. They join the faces
and tracks of the picture with the voices of the sound track."""
import numpy as np
import pandas as pd
from dagster import AssetExecutionContext, AssetSpec, MetadataValue

from animproc.image.preview import markdown_table
from animproc.multimodal.active_speaker import (STEP, empty_scores, find_active_speakers, n_steps_of, silent_audio,
                                                 speech_turns)
from animproc.temporal.stages import fps_of
from animproc.video.shots import dissolve_ranges
from assets import film_asset, film_step
from resources.active_speaker import ActiveSpeakerResource
from resources.face_analyzer import FaceAnalyzerResource
from partitions import film_partitions
from resources.film_config import FilmConfigResource
from resources.storage import StorageResource

GROUP = "multimodal"
NO_AUDIO = "the film has no audio"


@film_asset(code_version="3", group_name=GROUP, deps=["source_video", "shots", "audio", "vocals", "diarization",
                                                      "motion"], kinds={"parquet"},
            description="Who speaks on screen: a speaking score for every face track every 0.1 s (mouth opening "
                        "or the motion-compensated lower-face change against the vocals' loudness, or an ASD "
                        "model), and per diarized turn the best track, its character, score and margin, or off_screen.")
def active_speakers(context: AssetExecutionContext, storage: StorageResource, active_speaker: ActiveSpeakerResource,
                    face_analyzer: FaceAnalyzerResource, film_config: FilmConfigResource):
    from animproc.multimodal.active_speaker import audio_steps

    with film_step(context, storage, film_config) as step:
        products = step.products
        probe = products.json("source_video", "probe")
        segments = products.table("diarization")
        shots, transitions = products.table("shots", "shots"), products.table("shots", "transitions")
        n_steps = n_steps_of(float(probe.get("duration_s") or 0.0))
        has_audio = products.json("audio", "info")["has_audio"]
        model = active_speaker.model(step.config)
        if not has_audio:
            scores, turns, note = empty_scores(), speech_turns(segments.iloc[:0], empty_scores()), NO_AUDIO
        else:
            with step.storage.local_copy(products.file("vocals", "vocals")) as stem:
                audio = audio_steps(stem, n_steps, segments) if len(segments) else silent_audio(n_steps)
            skip = {f for a, b in dissolve_ranges(transitions) for f in range(a, b + 1)}
            with step.storage.local_copy(products.source_media()) as video:
                scores, turns = find_active_speakers(
                    video, fps_of(probe), int(probe["width"]), int(probe["height"]), shots, segments,
                    audio, face_analyzer.model(step.config).detector, model, products.table("motion", "tracks"),
                    skip_frames=skip, progress=step.progress)
            note = ("no faces found" if scores.empty else "no speech found" if turns.empty
                    else f"{int((~turns['off_screen']).sum())} of {len(turns)} turns spoken on screen")
        with products.publish("active_speakers") as out:
            out.table("scores", scores)
            out.table("turns", turns)
            out.json("info", {"backend": model.name, "step_seconds": STEP, "has_audio": has_audio, "note": note})
        preview = turns.assign(character=turns["character"].fillna("-"))[
            ["start", "end", "speaker", "character", "score", "margin", "off_screen"]].head(40)
        return step.result({
            "backend": model.name, "note": note, "tracks": int(scores["track_id"].nunique()), "turns": len(turns),
            "off_screen_turns": int(turns["off_screen"].sum()),
            "turns_preview": MetadataValue.md(markdown_table(preview.round(3))), "seconds": step.seconds()})


voice_review = AssetSpec(
    "voice_review", partitions_def=film_partitions, group_name=GROUP, code_version="1", deps=["identity_clusters"],
    description="The reviewer's speaker-to-character decisions, `decisions.voices` of the identity review "
                "(`{root}/{film}/reviews/identities.json`): reported apart from the rest of that review, so a "
                "voice decision re-runs character_voices and what reads it, not the characters.")


@film_asset(code_version="2", group_name=GROUP, deps=["active_speakers", "audio", "voice_features", "characters",
                                                      "voice_review"], kinds={"parquet", "wav"},
            description="Each diarized speaker mapped to a character (Hungarian assignment on on-screen speaking "
                        "evidence, or the reviewer's decision) with a confidence; every turn labelled on screen, "
                        "by voice match (enrolled voice profiles) or unmapped; playable voice clips per character.")
def character_voices(context: AssetExecutionContext, storage: StorageResource):
    from animproc.multimodal import voices as v

    with film_step(context, storage) as step:
        products = step.products
        asd_turns = products.table("active_speakers", "turns")
        review = products.review("identities", part="voice_review")
        decisions = dict((review.decisions.get("voices") or {}) if review else {})
        known = set(products.table("characters", "index")["character"])
        decisions = {s: (d.get("character") if isinstance(d, dict) else d) for s, d in decisions.items()}
        ignored = sorted(s for s, c in decisions.items() if c is not None and c not in known)
        decisions = {s: c for s, c in decisions.items() if s not in ignored}
        mapping = v.assign_speakers(asd_turns, decisions)
        embeddings, wav = {}, None
        if products.json("audio", "info")["has_audio"] and len(asd_turns):
            wav = products.file("audio", "analysis")
            with step.storage.local_copy(wav) as local:
                embeddings = v.turn_embeddings(local, asd_turns, v.resemblyzer_embedder(), progress=step.progress)
        turns, profiles = v.label_turns(asd_turns, mapping, embeddings)
        chosen = v.clip_choices(turns)
        features = products.table("voice_features")
        features = features.astype(object).where(features.notna(), None)  # strict JSON: no NaN
        profile_rows = {c: features[features["speaker"].isin(mapping.loc[mapping["character"] == c, "speaker"])]
                        .drop(columns=["film"]).to_dict("records") for c in sorted(set(mapping["character"].dropna()))}
        clips = []
        with products.publish("character_voices") as out:
            if wav is not None and len(chosen):
                with step.storage.local_copy(wav) as local:
                    for c in chosen.itertuples():
                        samples, rate = v.read_span(local, c.start, c.end)
                        out.blob(v.clip_path(c.character, c.turn_id), v.wav_bytes(samples, rate))
                        clips.append({"character": c.character, "turn_id": int(c.turn_id), "start": float(c.start),
                                      "end": float(c.end), "path": v.clip_path(c.character, c.turn_id),
                                      "source": c.source})
            out.table("mapping", mapping)
            out.table("turns", turns)
            out.table("clips", pd.DataFrame(clips, columns=v.CLIP_COLUMNS))
            note = ("the film has no audio" if wav is None else "no speech found" if turns.empty else
                    f"{int(mapping['character'].notna().sum())} of {len(mapping)} speakers mapped")
            out.json("info", {"note": note, "reviewed_speakers": sorted(decisions),
                              "ignored_decisions": {sp: "names no character of this film" for sp in ignored},
                              "voice_profiles": {c: {"enrolled_turns": int(((turns["character"] == c)
                                                                          & (turns["source"] == "on_screen")).sum()),
                                                     "features": profile_rows.get(c, [])} for c in profiles}})
        return step.result({
            "note": note, "speakers": len(mapping), "mapped": int(mapping["character"].notna().sum()),
            "mapping": MetadataValue.md(markdown_table(mapping)), "clips": len(clips),
            "turns_by_source": MetadataValue.json(turns["source"].value_counts().to_dict()),
            "seconds": step.seconds()})


@film_asset(code_version="3", group_name=GROUP, deps=["source_video", "audio", "vocals", "shots", "shot_structure",
                                                      "motion", "effects_catalog", "active_speakers"],
            kinds={"parquet"},
            description="Music beats of the accompaniment stem against cuts (share on the beat vs by chance, per "
                        "scene), sound-effect onsets against visual events (effects, sudden actions, flow spikes "
                        "within a shot) with offsets, "
                        "and the audio-video offset from speaking mouths vs the voice.")
def av_sync(context: AssetExecutionContext, storage: StorageResource):
    from animproc.multimodal import sync

    with film_step(context, storage) as step:
        products = step.products
        probe = products.json("source_video", "probe")
        fps, duration = fps_of(probe), float(probe.get("duration_s") or 0.0)
        shots = products.table("shots", "shots")
        beats = onsets = np.zeros(0)
        has_audio = products.json("audio", "info")["has_audio"]
        if has_audio:
            with step.storage.local_copy(products.file("vocals", "accompaniment")) as stem:
                beats, onsets = sync.beats_and_onsets(sync.onset_envelope(stem, progress=step.progress))
        cuts = sync.cut_table(shots, beats)
        spikes = sync.flow_spikes(products.table("motion", "frame_flow"), fps,
                                  sync.gradual_transitions(products.table("shots", "transitions")))
        visual = sync.visual_events(products.table("effects_catalog", "effects"), products.table("motion", "actions"),
                                    fps, spikes)
        events = sync.event_table(visual, onsets, beats)
        offset, confidence = sync.av_offset(products.table("active_speakers", "scores"),
                                            products.table("active_speakers", "turns"))
        share = float(cuts["on_beat"].mean()) if len(cuts) and len(beats) else 0.0
        summary = pd.DataFrame([{"share_on_beat": round(share, 4),
                                 "share_by_chance": round(sync.chance_share(beats, duration), 4),
                                 "av_offset_seconds": offset, "av_offset_confidence": confidence}]).astype("float64")
        scenes = sync.per_scene_share(cuts, products.table("shot_structure", "shot_structure"))
        note = (NO_AUDIO if not has_audio else "no beats found" if not len(beats) else
                f"{int(cuts['on_beat'].sum())} of {len(cuts)} cuts on the beat")
        with products.publish("av_sync") as out:
            out.table("beats", pd.DataFrame({"t": np.round(beats, 4).astype("float64")}))
            out.table("cuts", cuts)
            out.table("events", events)
            out.table("summary", summary)
            out.json("info", {"note": note, "share_on_beat_per_scene": scenes,
                              "av_offset": "no speech seen on screen" if offset is None else "measured"})
        return step.result({
            "note": note, "beats": len(beats), "cuts": len(cuts), "events": len(events), "flow_spikes": len(spikes),
            "events_by_kind": MetadataValue.json(sync.event_counts(events)),
            "summary": MetadataValue.md(markdown_table(summary.fillna("-"))),
            "share_on_beat_per_scene": MetadataValue.json(scenes), "seconds": step.seconds()})
