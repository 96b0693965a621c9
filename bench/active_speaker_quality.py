"""Active-speaker and speaker-to-character quality of a materialised film against a reference.

  python bench/active_speaker_quality.py --data DATA_ROOT --film sample --truth sample.truth.json
  python bench/active_speaker_quality.py --data DATA_ROOT --film sintel --reference bench/reference/sintel_trailer_speech.json

With `--truth` (the sample film's .truth.json): per-turn accuracy (each track named by the rendered face boxes)
and whether every diarized speaker was mapped to the character it is (each character named by the rendered
boxes its tracks' faces fall in). With `--reference` (turns labelled by eye, with the speaker's face region):
per-turn accuracy. Reads the products `active_speakers` and `character_voices` wrote; computes nothing else.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from animproc.multimodal.evaluate import (mapping_accuracy, region_turn_accuracy, track_names,  # noqa: E402
                                          turn_accuracy)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--film", required=True)
    ap.add_argument("--truth")
    ap.add_argument("--reference")
    args = ap.parse_args()
    folder = Path(args.data) / args.film
    scores = pd.read_parquet(folder / "active_speakers" / "scores.parquet")
    turns = pd.read_parquet(folder / "active_speakers" / "turns.parquet")
    pd.set_option("display.width", 200)
    if args.truth:
        truth = json.loads(Path(args.truth).read_text())
        names = track_names(scores, truth["on_screen"], truth["fps"])
        per_turn = turn_accuracy(turns, truth["turns"], names)
        votes: dict[str, Counter] = {}
        for track, name in names.items():
            character = scores.loc[scores["track_id"] == track, "character"].iloc[0]
            if isinstance(character, str) and name:
                votes.setdefault(character, Counter())[name] += int((scores["track_id"] == track).sum())
        character_names = {c: v.most_common(1)[0][0] for c, v in votes.items()}
        mapping = pd.read_parquet(folder / "character_voices" / "mapping.parquet")
        mapped = mapping_accuracy(mapping, turns, truth["turns"], character_names)
        print(mapped.to_string(index=False))
        print(f"speakers mapped right: {int(mapped['correct'].sum())}/{len(mapped)}")
    else:
        reference = json.loads(Path(args.reference).read_text())["turns"]
        per_turn = region_turn_accuracy(turns, scores, reference)
    print(per_turn.to_string(index=False))
    print(f"per-turn accuracy: {int(per_turn['correct'].sum())}/{len(per_turn)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
