"""Every kept instance with its character, also those without a usable face (backs, profiles, hidden faces).

A face names its instance (`characters` puts an instance with its faces' majority character). The `motion`
tracks follow one subject through a shot and list the instances they passed through, so a faceless instance on
a track takes the character its track's named instances agree on. What is left may still match, by the colours
of its costume, the one character of its shot it clearly resembles (`person`). A reviewer's assignment on the
identity page overrides all of these. `name_source` says which of face / track / person / reviewer / none gave
each instance its name, with a confidence in [0, 1]."""
from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from animproc.progress import NO_PROGRESS, Progress

CHARACTER_INSTANCE_COLUMNS = ["instance_id", "film", "frame_index", "shot_id", "character", "cluster", "confidence",
                              "name_source", "evidence", "cutout_path"]
SOURCES = ("face", "track", "person", "reviewer", "none")
NOT_A_CHARACTER = "none"  # a reviewer's "this instance is no character"


@dataclass
class Named:
    character: str | None
    cluster: str | None
    confidence: float
    source: str
    evidence: str


def face_names(index: pd.DataFrame, faces: pd.DataFrame) -> dict[str, Named]:
    """The instances `characters` named through their faces: the majority character of their faces, with the
    share of the instance's faces that carry it as the confidence."""
    named_faces = index[index["kind"] == "face"].set_index("id")
    per_instance: dict[str, list[tuple[str, str]]] = defaultdict(list)
    total: Counter = Counter()
    for face_id, instance_id in zip(faces["face_id"], faces["instance_id"]):
        if not isinstance(instance_id, str):
            continue
        total[instance_id] += 1
        if face_id in named_faces.index:
            row = named_faces.loc[face_id]
            per_instance[instance_id].append((str(row["character"]), str(row["cluster"])))
    out = {}
    for r in index[index["kind"] == "instance"].itertuples():
        votes = Counter(per_instance.get(r.id, []))
        (character, cluster), n = votes.most_common(1)[0] if votes else ((r.character, r.cluster), 1)
        out[r.id] = Named(character, cluster, round(n / max(total[r.id], n), 4), "face", r.decision)
    return out


def track_names(tracks: pd.DataFrame, named: dict[str, Named], characters: set[str]) -> dict[str, Named]:
    """Instances on a motion track that a face-named instance (or a named face: the track's label) is also on:
    the character most of the track's named members carry, when more than half of them agree; the confidence
    is that share. An instance on several tracks pools their votes."""
    votes: dict[str, Counter] = defaultdict(Counter)
    clusters: dict[str, str] = {n.character: n.cluster for n in named.values() if n.character}
    why: dict[str, list[str]] = defaultdict(list)
    for r in tracks.itertuples():
        members = list(dict.fromkeys(json.loads(r.instance_ids) if isinstance(r.instance_ids, str) else []))
        track_votes = Counter(named[i].character for i in members if i in named and named[i].character)
        if isinstance(r.label, str) and r.label in characters and not track_votes:
            track_votes[r.label] += 1  # faces outside any instance named the track
        if not track_votes:
            continue
        for i in members:
            if i not in named:
                votes[i].update(track_votes)
                why[i].append(str(r.track_id))
    out = {}
    for i, counter in votes.items():
        (character, n), total = counter.most_common(1)[0], sum(counter.values())
        if n * 2 > total:
            out[i] = Named(character, clusters.get(character), round(n / total, 4), "track",
                           f"track {', '.join(why[i])}: {n} of {total} named members are {character}")
    return out


def person_names(unnamed: pd.DataFrame, named_rows: pd.DataFrame, costume: Callable[[str], np.ndarray | None],
                 min_similarity: float, min_margin: float, progress: Progress = NO_PROGRESS) -> dict[str, Named]:
    """Instances still unnamed whose costume colours (`costume(cutout_path)`: an L2-normalised histogram)
    resemble one character of their shot clearly more than any other: cosine similarity to that character's
    named instances of the shot at least `min_similarity`, and `min_margin` above the next character's (a
    shot with one named character needs the similarity alone). `progress` hears of the instances compared."""
    out = {}
    task = progress.task("costumes", len(unnamed), "instances")
    cache: dict[str, np.ndarray | None] = {}

    def hist(path: str) -> np.ndarray | None:
        if path not in cache:
            cache[path] = costume(path)
        return cache[path]

    for r in unnamed.itertuples():
        task.advance()
        shot = named_rows[named_rows["shot_id"] == r.shot_id]
        mine = hist(r.cutout_path)
        if mine is None or shot.empty:
            continue
        best: dict[str, float] = {}
        for s in shot.itertuples():
            other = hist(s.cutout_path)
            if other is not None:
                best[s.character] = max(best.get(s.character, -1.0), float(mine @ other))
        ranked = sorted(best.items(), key=lambda kv: -kv[1])
        if not ranked or ranked[0][1] < min_similarity:
            continue
        margin = ranked[0][1] - (ranked[1][1] if len(ranked) > 1 else 0.0)
        if len(ranked) > 1 and margin < min_margin:
            continue
        character = ranked[0][0]
        cluster = str(shot[shot["character"] == character]["cluster"].iloc[0])
        out[r.instance_id] = Named(character, cluster, round(ranked[0][1], 4), "person",
                                   f"costume {ranked[0][1]:.2f} like {character} in shot {int(r.shot_id)}"
                                   + (f" (next {ranked[1][0]} {ranked[1][1]:.2f})" if len(ranked) > 1 else ""))
    task.finish()
    return out


def reviewer_names(assigned: dict[str, str], names: dict[str, str]) -> dict[str, Named]:
    """A reviewer's assignments (instance id -> cluster key, or `none`): the cluster's character, or no
    character; a key that names no character (noise, not-a-character) leaves the instance unnamed."""
    out = {}
    for iid, key in assigned.items():
        name = names.get(key)
        out[iid] = Named(name, key if name else None, 1.0, "reviewer",
                         f"assigned by a person to {name}" if name else "marked no character by a person")
    return out


def carry_identities(kept: pd.DataFrame, index: pd.DataFrame, faces: pd.DataFrame, tracks: pd.DataFrame | None,
                     cluster_names: dict[str, str], assigned: dict[str, str],
                     costume: Callable[[str], np.ndarray | None] | None, film: str,
                     min_similarity: float = 0.9, min_margin: float = 0.1,
                     progress: Progress = NO_PROGRESS) -> pd.DataFrame:
    """One row per kept instance: its character (None when nothing names it), cluster key, confidence,
    `name_source` and evidence. Order of precedence: reviewer, face, track, person. `progress` hears of the
    costumes compared (when `costume` is given) and the instances named."""
    by_face = face_names(index, faces)
    by_track = track_names(tracks, by_face, set(cluster_names.values())) if tracks is not None and len(tracks) else {}
    named = {**by_track, **by_face}
    if costume is not None:
        rows = kept.assign(character=[named[i].character if i in named else None for i in kept["instance_id"]],
                           cluster=[named[i].cluster if i in named else None for i in kept["instance_id"]])
        face_named = rows[rows["instance_id"].isin(by_face.keys())]
        unnamed = rows[~rows["instance_id"].isin(named.keys())]
        named = {**person_names(unnamed, face_named, costume, min_similarity, min_margin, progress), **named}
    named = {**named, **reviewer_names(assigned, cluster_names)}
    out = []
    task = progress.task("instances", len(kept), "instances")
    for r in kept.itertuples():
        task.advance()
        n = named.get(r.instance_id, Named(None, None, 0.0, "none", "no face, track or costume names it"))
        out.append({"instance_id": r.instance_id, "film": film, "frame_index": int(r.frame_index),
                    "shot_id": int(r.shot_id), "character": n.character, "cluster": n.cluster,
                    "confidence": float(n.confidence), "name_source": n.source, "evidence": n.evidence,
                    "cutout_path": r.cutout_path})
    task.finish()
    return pd.DataFrame(out, columns=CHARACTER_INSTANCE_COLUMNS)


def source_counts(table: pd.DataFrame) -> dict[str, int]:
    """How many instances each name source named (every source listed, zeros included)."""
    counts = Counter(table["name_source"])
    return {s: int(counts.get(s, 0)) for s in SOURCES}
