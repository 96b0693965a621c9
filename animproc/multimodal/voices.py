"""Which voice is which character. Each diarized speaker is assigned to the character whose speaking tracks
its on-screen turns fall on (Hungarian assignment on the matrix of speaking score x seconds per speaker and
character), with a confidence from the share of that speaker's on-screen evidence the character holds and
how much evidence there is; a speaker never seen speaking stays unmapped and says why. A reviewer's decision
(speaker -> character or none) replaces the assignment. Then enrolment: the voice embeddings of the turns a
mapped speaker speaks on screen make the character's voice profile, which confirms that speaker's off-screen
turns and labels turns of unmapped speakers whose voice matches it."""
from __future__ import annotations

import io
import wave
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from animproc.progress import NO_PROGRESS, Progress

MIN_CONFIDENCE = 0.3  # below it an assignment is left unmapped
EVIDENCE_HALF = 1.0  # score-seconds of on-screen speech at which the evidence factor is one half
VOICE_MATCH = 0.8  # cosine similarity of a turn's voice to a character's profile that labels it
CLIPS_PER_CHARACTER, CLIP_SECONDS = 5, 6.0
MAPPING_COLUMNS = ["speaker", "character", "confidence", "reason"]
TURN_COLUMNS = ["turn_id", "start", "end", "speaker", "character", "confidence", "source"]
CLIP_COLUMNS = ["character", "turn_id", "start", "end", "path", "source"]


def cooccurrence(turns: pd.DataFrame) -> pd.DataFrame:
    """Speaker x character: the speaking score times seconds of the speaker's turns spoken on screen by a
    track of that character."""
    seen = turns[~turns["off_screen"].astype(bool) & turns["character"].notna()]
    weight = seen["score"] * (seen["end"] - seen["start"])
    matrix = weight.groupby([seen["speaker"], seen["character"]]).sum().unstack(fill_value=0.0)
    return matrix.reindex(sorted(turns["speaker"].unique())).fillna(0.0)


def assign_speakers(turns: pd.DataFrame, decisions: dict[str, str | None] | None = None) -> pd.DataFrame:
    """The mapping table: one row per speaker (see the module's docstring); `decisions` are a reviewer's."""
    matrix = cooccurrence(turns)
    rows = {}
    if matrix.shape[1]:
        for i, j in zip(*linear_sum_assignment(-matrix.to_numpy())):
            speaker, character = matrix.index[i], matrix.columns[j]
            evidence, held = float(matrix.iloc[i].sum()), float(matrix.iloc[i, j])
            if held <= 0:
                continue
            share = held / evidence
            confidence = share * evidence / (evidence + EVIDENCE_HALF)
            reason = (f"speaks {held:.1f} score-seconds on screen as {character} ({share:.0%} of its on-screen "
                      f"speech)")
            if confidence < MIN_CONFIDENCE:
                rows[speaker] = (None, confidence, f"unmapped: too little on-screen evidence ({reason})")
            else:
                rows[speaker] = (str(character), confidence, reason)
    on_unnamed = set(turns.loc[~turns["off_screen"].astype(bool) & turns["character"].isna(), "speaker"])
    for speaker in matrix.index:
        if speaker not in rows:
            seen = float(matrix.loc[speaker].sum())
            rows[speaker] = (None, 0.0, "unmapped: the characters it is seen as fit other speakers better" if seen
                             else "unmapped: seen speaking only on tracks no character is named on"
                             if speaker in on_unnamed else "unmapped: never seen speaking on screen")
    for speaker, character in (decisions or {}).items():
        if speaker in rows:
            rows[speaker] = (character, 1.0, f"reviewer: {character}" if character else "reviewer: no character")
    table = pd.DataFrame([(s, c, round(float(conf), 4), r) for s, (c, conf, r) in sorted(rows.items())],
                         columns=MAPPING_COLUMNS)
    return table.astype({"speaker": "object", "character": "object", "confidence": "float64", "reason": "object"})


def read_span(path: str | Path, start: float, end: float) -> tuple[np.ndarray, int]:
    """Mono samples of an audio file between two times, read without loading the rest."""
    import soundfile as sf

    with sf.SoundFile(str(path)) as f:
        f.seek(min(int(start * f.samplerate), f.frames))
        data = f.read(max(int((end - start) * f.samplerate), 0), dtype="float32", always_2d=True)
        return data.mean(axis=1), f.samplerate


def wav_bytes(samples: np.ndarray, rate: int) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return buf.getvalue()


def resemblyzer_embedder() -> Callable[[np.ndarray], np.ndarray]:
    """The diarizer's d-vector encoder (resemblyzer, weights in its wheel) on 16 kHz samples."""
    from resemblyzer import VoiceEncoder

    encoder = VoiceEncoder("cpu", verbose=False)
    return lambda samples: encoder.embed_utterance(samples.astype(np.float32))


def turn_embeddings(wav: str | Path, turns: pd.DataFrame, embed: Callable[[np.ndarray], np.ndarray],
                    min_seconds: float = 0.5, progress: Progress = NO_PROGRESS) -> dict[int, np.ndarray]:
    """A unit voice embedding per turn of at least `min_seconds` (16 kHz audio, read turn by turn).
    `progress` hears of the seconds of speech embedded."""
    out = {}
    long = turns[(turns["end"] - turns["start"]) >= min_seconds]
    task = progress.task("voices", float((long["end"] - long["start"]).sum()), "s of speech")
    for t in long.itertuples():
        samples, _ = read_span(wav, t.start, t.end)
        vector = np.asarray(embed(samples), np.float64)
        norm = float(np.linalg.norm(vector))
        if norm > 0:
            out[int(t.turn_id)] = vector / norm
        task.advance(t.end - t.start)
    task.finish()
    return out


def label_turns(turns: pd.DataFrame, mapping: pd.DataFrame, embeddings: dict[int, np.ndarray]
                ) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Each turn's character and how it was found (`on_screen`: the mapped speaker seen speaking as that
    character; `voice_match`: by voice, from the speaker's mapping or the character's voice profile;
    `unmapped`), and the voice profiles (mean embedding of each character's on-screen turns)."""
    mapped = {r.speaker: (r.character, r.confidence) for r in mapping.itertuples() if pd.notna(r.character)}
    on_screen = {}
    for t in turns.itertuples():
        character = mapped.get(t.speaker, (None, 0))[0]
        if character is not None and not t.off_screen and t.character == character:
            on_screen[int(t.turn_id)] = character
    profiles = {}
    for character in sorted(set(on_screen.values())):
        vectors = [embeddings[k] for k, c in on_screen.items() if c == character and k in embeddings]
        if vectors:
            mean = np.mean(vectors, axis=0)
            profiles[character] = mean / np.linalg.norm(mean)
    rows = []
    for t in turns.itertuples():
        turn_id = int(t.turn_id)
        character, confidence = mapped.get(t.speaker, (None, 0.0))
        similarity = {c: float(p @ embeddings[turn_id]) for c, p in profiles.items()} if turn_id in embeddings else {}
        if turn_id in on_screen:
            source = "on_screen"
        elif character is not None:
            source = "voice_match"
            if character in similarity:
                confidence *= max(0.0, similarity[character])
        elif similarity and max(similarity.values()) >= VOICE_MATCH:
            character = max(similarity, key=similarity.get)
            source, confidence = "voice_match", similarity[character]
        else:
            source, confidence = "unmapped", 0.0
        rows.append({"turn_id": turn_id, "start": float(t.start), "end": float(t.end), "speaker": str(t.speaker),
                     "character": character, "confidence": round(float(confidence), 4), "source": source})
    table = pd.DataFrame(rows, columns=TURN_COLUMNS).astype(
        {"turn_id": "int64", "start": "float64", "end": "float64", "speaker": "object", "character": "object",
         "confidence": "float64", "source": "object"})
    return table, profiles


def clip_choices(turns: pd.DataFrame) -> pd.DataFrame:
    """The turns each character's voice clips are cut from: on-screen turns first, then the most confident,
    at most `CLIPS_PER_CHARACTER`, each at most `CLIP_SECONDS` long."""
    named = turns[turns["character"].notna()].assign(rank=lambda t: (t["source"] != "on_screen").astype(int))
    named = named.sort_values(["character", "rank", "confidence"], ascending=[True, True, False])
    chosen = named.groupby("character").head(CLIPS_PER_CHARACTER)
    return chosen.assign(end=np.minimum(chosen["end"], chosen["start"] + CLIP_SECONDS))


def clip_path(character: str, turn_id: int) -> str:
    return f"clips/{character}/turn_{turn_id:05d}.wav"
