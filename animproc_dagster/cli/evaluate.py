"""`animproc eval ...`: a film's results (or a file's) scored against a reference."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from animproc_dagster.cli.common import _fail, _products, _storage
from animproc_dagster.cli.export import _diarization_turns


def cmd_eval_diarization(args) -> int:
    from animproc.audio.diarize import parse_rttm
    from animproc.audio.evaluate import diarization_error

    hypothesis, _ = _diarization_turns(args.name)
    reference_path = Path(args.reference)
    if not reference_path.exists():
        return _fail(f"{reference_path}: reference RTTM does not exist")
    reference = parse_rttm(reference_path.read_text())
    if not reference:
        return _fail(f"{reference_path}: no SPEAKER lines found")
    r = diarization_error(reference, hypothesis, collar=args.collar)
    print(f"DER {r['der']:.2%} (collar {args.collar:g} s) over {r['total_s']:.1f} s of reference speech")
    print(f"  missed speech  {r['missed']:.2%} ({r['missed_s']:.2f} s)")
    print(f"  false alarm    {r['false_alarm']:.2%} ({r['false_alarm_s']:.2f} s)")
    print(f"  confusion      {r['confusion']:.2%} ({r['confusion_s']:.2f} s)")
    print(f"  speakers: reference {len({t[2] for t in reference})}, found {len({t[2] for t in hypothesis})}")
    return 0


def cmd_eval_identities(args) -> int:
    from animproc.errors import AnimprocError
    from animproc.identity.images import film_assignment, load_reference, score_assignment

    if args.name and not args.assignment and _is_screen_truth(Path(args.reference)):
        return _eval_identities_on_screen(args.name, Path(args.reference))
    try:
        reference = load_reference(Path(args.reference))
        if args.assignment:
            assignment = json.loads(Path(args.assignment).read_text())
        elif args.name:
            assignment = film_assignment(_storage(), args.name)
        else:
            return _fail("give a film NAME or --assignment FILE (from `animproc cluster-images`)")
    except (AnimprocError, OSError, json.JSONDecodeError) as exc:
        return _fail(str(exc))
    s = score_assignment(assignment, reference)
    print(f"purity {s['purity']:.3f}  coverage {s['coverage']:.3f}  ARI {s['ari']:.3f}  clusters {s['clusters']} "
          f"(reference identities {s['reference_identities']}, faces scored {s['faces']})")
    for scene, people in s["multi_face_scenes"].items():
        print(f"  {scene}: " + ", ".join(f"{p} {'in' if ok else 'NOT in'} their cluster" for p, ok in people.items()))
    if s["missing_images"]:
        print(f"  no face found in: {', '.join(s['missing_images'])}")
    return 0


def _is_screen_truth(path: Path) -> bool:
    try:
        return "on_screen" in json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, TypeError):
        return False


def _eval_identities_on_screen(name: str, reference: Path) -> int:
    """A film's face clusters against a ground truth that places every character's face on every frame (the
    sample film's `.truth.json`)."""
    from animproc.identity.evaluate import identity_scores, labels_on_screen

    faces = _products(name).optional_table("identity_clusters", "faces")
    if faces is None:
        return _fail(f"{name}: no identity_clusters yet (materialise it first)")
    predicted, labels = labels_on_screen(faces, json.loads(reference.read_text())["on_screen"])
    s = identity_scores(predicted, labels)
    print(f"purity {s['purity']:.3f}  coverage {s['coverage']:.3f}  ARI {s['ari']:.3f}  clusters {s['clusters']} "
          f"(reference identities {s['reference_identities']}, faces scored {s['faces']})")
    for who in sorted(set(labels)):
        counts = Counter(p for p, r in zip(predicted, labels) if r == who)
        print(f"  {who}: " + ", ".join(f"cluster {c} x{n}" if c >= 0 else f"noise x{n}" for c, n in counts.most_common()))
    return 0


def cmd_eval_shot_structure(args) -> int:
    from animproc.temporal.evaluate import structure_scores

    table = _products(args.name).optional_table("shot_structure")
    if table is None:
        return _fail(f"film {args.name!r} has no shot_structure yet; "
                     f"run `animproc run {args.name} --select shot_structure`")
    try:
        reference = json.loads(Path(args.reference).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        return _fail(f"{args.reference}: cannot read the reference ({exc})")
    shots = reference.get("shots") if isinstance(reference, dict) else reference
    if not isinstance(shots, list) or not all(isinstance(s, dict) and {"start_frame", "end_frame"} <= set(s)
                                              for s in shots):
        return _fail(f"{args.reference}: expected a list of shots (or {{'shots': [...]}}), each with "
                     "start_frame, end_frame and the labels scale and camera")
    scores = structure_scores(table, shots)
    print(f"{scores['matched']} of {scores['reference_shots']} reference shots matched to detected shots")
    for attr in ("scale", "camera"):
        if attr not in scores:
            continue
        s = scores[attr]
        print(f"{attr}: accuracy {s['accuracy']:.3f} over {s['shots']} shots")
        for ref_label, row in s["confusion"].items():
            print(f"  {ref_label:>18} -> " + ", ".join(f"{k} {v}" for k, v in row.items()))
    return 0


def cmd_eval_separation(args) -> int:
    from animproc.audio.evaluate import si_sdr
    from animproc.audio.extract import read_mono

    import tempfile

    for p in (args.mixture, args.reference, args.estimate):
        if p and not Path(p).exists():
            return _fail(f"{p}: file does not exist")
    with tempfile.TemporaryDirectory(prefix="animproc-eval-") as tmp:
        if args.estimate:
            estimate_path, label = Path(args.estimate), args.estimate
        else:
            from animproc.audio.separate import EmbeddedSeparator, separate_file

            estimate_path, label = Path(tmp) / "vocals.flac", "embedded separator"
            separate_file(EmbeddedSeparator(), args.mixture, estimate_path, Path(tmp) / "accompaniment.flac")
        mixture, reference, estimate = (read_mono(p) for p in (args.mixture, args.reference, estimate_path))
    before, after = si_sdr(mixture, reference), si_sdr(estimate, reference)
    print(f"SI-SDR of the mixture   {before:6.2f} dB")
    print(f"SI-SDR of the estimate  {after:6.2f} dB  ({label})")
    print(f"improvement (SI-SDRi)   {after - before:6.2f} dB")
    return 0
