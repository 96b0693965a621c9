"""Diarization DER on every real case we have, with the "all speech one speaker" baseline beside each.

The cases are built from ../shared/media's three labelled recordings and the film clips' scores, so the
development set is wider than the three recordings: concatenations of different recordings' speakers (six
speakers, speakers returning), overlaps made by summing two recordings (the truth is the union of their
references), and speech mixed under a film's score (diarized on the mixture and on the embedded separator's
vocals stem, and on the input `audio.diarize_on: auto` picks). The Sintel trailer is scored against
`bench/reference/sintel_trailer_speech.rttm`. The README's "before" column is this script run on the
diarizer of commit 82a5671 (eigengap spectral clustering).

Cases are split in two: `dev` (methods and constants were compared on these) and `check` (kept aside,
looked at only to confirm a choice). Scoring: pyannote.metrics DER, no collar, overlap scored; pooled DER
is total error seconds over total reference seconds of a split.

Usage: python bench/diarization.py [--only NAME ...] [--json rows.json]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "media"
REFERENCE = ROOT / "bench" / "reference"
SR = 16000

from animproc.audio.diarize import parse_rttm  # noqa: E402
from animproc.audio.evaluate import diarization_error  # noqa: E402
from animproc.audio.extract import read_mono  # noqa: E402

Turns = list[tuple[float, float, str]]


@dataclass
class Case:
    name: str
    split: str
    what: str
    wav: np.ndarray
    reference: Turns
    stem: np.ndarray | None = None  # the embedded separator's vocals stem, where music is under the speech
    notes: dict = field(default_factory=dict)


def _load(folder: str, stem: str) -> tuple[np.ndarray, Turns]:
    d = SHARED / folder
    audio = next(p for p in d.iterdir() if p.stem == stem and p.suffix in (".wav", ".mp3"))
    return read_mono(audio), parse_rttm((d / f"{stem}.rttm").read_text())


def _shift(turns: Turns, offset: float, prefix: str = "") -> Turns:
    return [(a + offset, b + offset, prefix + s) for a, b, s in turns]


def _clip(turns: Turns, start: float, end: float) -> Turns:
    return [(max(a, start) - start, min(b, end) - start, s) for a, b, s in turns if b > start and a < end]


def _concat(parts: list[tuple[np.ndarray, Turns, str]], gap: float = 0.5) -> tuple[np.ndarray, Turns]:
    wavs, turns, t = [], [], 0.0
    for wav, ref, prefix in parts:
        wav = wav / (np.sqrt(np.mean(wav ** 2)) + 1e-9) * 0.05  # equal loudness: recordings differ by 10 dB
        turns += _shift(ref, t, prefix)
        wavs += [wav, np.zeros(int(gap * SR), np.float32)]
        t += len(wav) / SR + gap
    return np.concatenate(wavs).astype(np.float32), turns


def _score_stereo(path: Path, seconds: float, offset: float = 0.0) -> np.ndarray:
    import av

    r = av.AudioResampler(format="fltp", layout="stereo", rate=SR)
    with av.open(str(path)) as c:
        x = np.concatenate([g.to_ndarray() for f in c.decode(audio=0) for g in r.resample(f)], axis=1)
    x = x[:, int(offset * SR):]
    reps = int(np.ceil(seconds * SR / x.shape[1]))
    return np.tile(x, reps)[:, :int(seconds * SR)]


def _under_score(speech: np.ndarray, score_path: Path, music_db: float, offset: float = 0.0):
    """Speech centred (as films mix dialogue) over a stereo score `music_db` dB relative to the speech's RMS
    over its active part; returns the mono mixture and the embedded separator's vocals stem."""
    from animproc.audio.separate import EmbeddedSeparator

    music = _score_stereo(score_path, len(speech) / SR, offset)
    active = speech[np.abs(speech) > 0.1 * np.abs(speech).max()]
    gain = np.sqrt(np.mean(active ** 2)) / (np.sqrt(np.mean(music ** 2)) + 1e-9) * 10 ** (music_db / 20)
    stereo = speech[None] + gain * music
    stereo = stereo / np.abs(stereo).max() * 0.9
    stem = EmbeddedSeparator().vocals(stereo.astype(np.float32), SR)[0]
    return stereo.mean(0).astype(np.float32), stem.astype(np.float32)


def build_cases() -> list[Case]:
    two, two_ref = _load("speech_2spk", "sample")
    four, four_ref = _load("speech_4spk", "diarizationExample")
    call, call_ref = _load("speech_call_2spk", "demo")
    cases = [Case("speech_2spk", "dev", "shared: 30 s phone conversation, 2 speakers, one overlap", two, two_ref),
             Case("speech_4spk", "dev", "shared: 42 s, 4 speakers taking turns (coarse reference)", four, four_ref),
             Case("speech_call_2spk", "check", "shared: 9.5 min business call, 2 speakers", call, call_ref)]
    wav, ref = _concat([(two, two_ref, "a_"), (four, four_ref, "b_")])
    cases.append(Case("concat_6spk", "dev", "2spk sample then 4spk recording: 6 speakers", wav, ref))
    # Speakers that come back: call excerpts interleaved with the 4-speaker recording and the 2-speaker sample.
    pieces = [(call[int(a * SR):int(b * SR)], _clip(call_ref, a, b), "c_")
              for a, b in ((0, 60), (200, 260), (400, 460))]
    wav, ref = _concat([pieces[0], (four, four_ref, "b_"), pieces[1], (two, two_ref, "a_"), pieces[2]])
    cases.append(Case("interleaved_8spk", "check", "call excerpts between the 4spk and 2spk recordings: 8 speakers, "
                                                   "the call's two return twice", wav, ref))
    # Overlap with known truth: the 4spk recording with the 2spk sample summed in from 8 s.
    a = four / (np.sqrt(np.mean(four ** 2)) + 1e-9) * 0.05
    b = two / (np.sqrt(np.mean(two ** 2)) + 1e-9) * 0.05
    offset = 8.0
    n = max(len(a), int(offset * SR) + len(b))
    mix = np.zeros(n, np.float32)
    mix[:len(a)] += a
    mix[int(offset * SR):int(offset * SR) + len(b)] += b
    cases.append(Case("overlap_6spk", "check", "4spk recording with the 2spk sample summed in from 8 s: overlapped "
                                               "speech of different recordings", mix,
                      _shift(four_ref, 0, "b_") + _shift(two_ref, offset, "a_")))
    bbb = SHARED / "bbb_720p_30s" / "big_buck_bunny_0_30.webm"
    tos = SHARED / "tos_battle" / "tears-of-steel-battle-clip-medium.webm"
    for name, split, speech, ref, score, db, off in (
            ("2spk_under_bbb_score", "dev", two, two_ref, bbb, -6.0, 0.0),
            ("4spk_under_tos_score", "check", four, four_ref, tos, -6.0, 10.0),
            ("concat_6spk_under_bbb_score_loud", "check", *_concat([(two, two_ref, "a_"), (four, four_ref, "b_")]),
             bbb, 0.0, 0.0)):
        mixture, stem = _under_score(speech, score, db, off)
        cases.append(Case(name, split, f"{'music at equal loudness' if db == 0 else f'music {-db:.0f} dB under'} "
                                       f"the speech ({score.parent.name} score)", mixture, ref, stem))
    sintel = REFERENCE / "sintel_trailer_speech.rttm"
    if sintel.exists():
        from animproc.audio.separate import EmbeddedSeparator

        stereo = _score_stereo(SHARED / "sintel_trailer" / "sintel.mp4", 52.2)
        stem = EmbeddedSeparator().vocals(stereo.astype(np.float32), SR)[0]
        cases.append(Case("sintel_trailer", "check", "film: the Sintel trailer's dialogue under its score",
                          stereo.mean(0).astype(np.float32), parse_rttm(sintel.read_text()), stem))
    return cases


def one_speaker(case: Case) -> Turns:
    """The baseline: every reference speech second given to one speaker (perfect speech detection)."""
    from pyannote.core import Annotation, Segment

    ann = Annotation()
    for k, (a, b, _) in enumerate(case.reference):
        ann[Segment(a, b), k] = "x"
    return [(s.start, s.end, "one") for s in ann.get_timeline().support()]


def score(turns_hyp: Turns, case: Case) -> dict:
    return diarization_error(case.reference, turns_hyp)


def run(cases: list[Case], diarize) -> list[dict]:
    rows = []
    for case in cases:
        inputs = [("mixture", case.wav)]
        if case.stem is not None:
            from animproc.audio.diarize import choose_input

            picked, _ = choose_input(case.wav, case.stem)
            inputs += [("stem", case.stem), (f"auto ({picked})", case.stem if picked == "vocals" else case.wav)]
        base = score(one_speaker(case), case)
        for label, wav in inputs:
            t = time.perf_counter()
            segments = diarize(wav, case)
            seconds = time.perf_counter() - t
            r = score([(s.start, s.end, s.speaker) for s in segments], case)
            rows.append({"case": case.name, "split": case.split, "input": label, "der": r["der"],
                         "missed": r["missed"], "false_alarm": r["false_alarm"], "confusion": r["confusion"],
                         "total_s": r["total_s"], "error_s": r["der"] * r["total_s"],
                         "one_speaker_der": base["der"], "one_speaker_error_s": base["der"] * base["total_s"],
                         "speakers_true": len({s for *_, s in case.reference}),
                         "speakers_found": len({s.speaker for s in segments}), "seconds": round(seconds, 1)})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def _pooled_input(row: dict, rows: list[dict], label: str) -> bool:
    """`auto`: the input the asset's default picks where a case has a stem, else the mixture."""
    if label == "mixture" or not any(r["case"] == row["case"] and r["input"].startswith("auto") for r in rows):
        return row["input"] == "mixture"
    return row["input"].startswith("auto")


def table(rows: list[dict]) -> str:
    out = ["| case | split | input | speakers true / found | DER | missed | false alarm | confusion | one speaker |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        out.append(f"| {r['case']} | {r['split']} | {r['input']} | {r['speakers_true']} / {r['speakers_found']} | "
                   f"{r['der']:.1%} | {r['missed']:.1%} | {r['false_alarm']:.1%} | {r['confusion']:.1%} | "
                   f"{r['one_speaker_der']:.1%} |")
    for split in ("dev", "check"):
        for label in ("mixture", "auto"):
            sel = [r for r in rows if r["split"] == split and _pooled_input(r, rows, label)]
            if sel:
                total = sum(r["total_s"] for r in sel)
                out.append(f"| **pooled {split}, {label}** | | | | {sum(r['error_s'] for r in sel) / total:.1%} "
                           f"| | | | {sum(r['one_speaker_error_s'] for r in sel) / total:.1%} |")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", nargs="*")
    parser.add_argument("--json", metavar="PATH", help="also write the rows here")
    args = parser.parse_args()
    from animproc.audio.diarize import EmbeddedDiarizer

    engine = EmbeddedDiarizer()
    cases = [c for c in build_cases() if not args.only or c.name in args.only]
    rows = run(cases, lambda wav, case: engine(wav))
    print(table(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
