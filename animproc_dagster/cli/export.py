"""`animproc export shots|rttm`: a film's results in interchange formats."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from animproc_dagster.cli.common import _fail, _products


def cmd_export_shots(args) -> int:
    from animproc.export import shots_csv, shots_json

    products = _products(args.name)
    if not products.has("shots", "shots"):
        return _fail(f"film {args.name!r} has no shots yet; run `animproc run {args.name} --select shots`")
    shots = products.table("shots", "shots")
    structure = products.optional_table("shot_structure")
    if structure is not None:
        shots = shots.merge(structure[["shot_id", "scale", "camera", "scene_id"]], on="shot_id", how="left")
    transitions = products.table("shots", "transitions")
    probe = products.json("source_video", "probe")
    text = shots_csv(shots) if args.format == "csv" else json.dumps(
        shots_json(args.name, shots, transitions, probe), indent=2)
    if args.output:
        Path(args.output).write_text(text)
        print(f"wrote {len(shots)} shots to {args.output}")
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


def _diarization_turns(name: str):
    table = _products(name).optional_table("diarization")
    if table is None:
        raise SystemExit(_fail(f"film {name!r} has no diarization yet; run `animproc run {name} --select diarization`"))
    return [(float(r.start), float(r.end), str(r.speaker)) for r in table.itertuples()], table


def cmd_export_rttm(args) -> int:
    from animproc.audio.diarize import SpeechSegment, to_rttm

    _, table = _diarization_turns(args.name)
    text = to_rttm([SpeechSegment(r.start, r.end, r.speaker, r.confidence, r.overlap) for r in table.itertuples()],
                   args.name)
    if args.output:
        Path(args.output).write_text(text)
        print(f"wrote {len(table)} speech turns to {args.output}")
    else:
        sys.stdout.write(text)
    return 0
