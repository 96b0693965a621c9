"""Speaker clustering methods compared on every case of bench/diarization.py, with speech detection and
embeddings computed once per case and input (cached), so a clustering method costs seconds rather than the
minutes of a full run.

The methods differ only in how the windows' d-vectors become speaker labels; the timeline is the embedded
diarizer's, with its overlap rule changed only by `--overlap-share` (the vote share that adds a second speaker;
above 0.5, never) or `--overlap-margin` (a second speaker where the windows score close to both instead). DER
as in bench/diarization.py (no collar, overlap scored), pooled over the `dev` and the `check` cases on the
mixture and on the input `audio.diarize_on: auto` picks. Delete the cache after changing speech detection or
the embeddings.

Usage: python bench/diarization_clustering.py [--cache DIR] [--methods NAME ...] [--overlap-share S]
       [--overlap-margin M]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from animproc.audio import clustering  # noqa: E402
from animproc.audio.diarize import EmbeddedDiarizer, choose_input  # noqa: E402
from diarization import build_cases, one_speaker, score  # noqa: E402


def embed_cases(cache: Path) -> list[dict]:
    """Per case and input: regions, window embeddings and spans, read from `cache` when there."""
    index = cache / "index.json"
    if index.exists():
        items = json.loads(index.read_text())
        for it in items:
            z = np.load(cache / it["file"])
            it.update(regions=[tuple(r) for r in z["regions"]], embs=z["embs"], spans=z["spans"])
        return items
    cache.mkdir(parents=True, exist_ok=True)
    engine, items = EmbeddedDiarizer(), []
    for case in build_cases():
        inputs = [("mixture", case.wav)]
        if case.stem is not None:
            picked, _ = choose_input(case.wav, case.stem)
            inputs += [("stem", case.stem)]
        base = score(one_speaker(case), case)
        for label, wav in inputs:
            regions = engine.speech_regions(wav)
            embs, spans = engine.embed(wav, regions)
            file = f"{case.name}_{label}.npz"
            np.savez(cache / file, regions=np.asarray(regions).reshape(-1, 2), embs=embs, spans=spans)
            items.append({"case": case.name, "split": case.split, "input": label, "file": file,
                          "auto": label == "mixture" if case.stem is None or picked == "mixture" else label == "stem",
                          "reference": case.reference, "one_speaker_der": base["der"],
                          "regions": regions, "embs": embs, "spans": spans})
            print(case.name, label, len(embs), "windows", flush=True)
    index.write_text(json.dumps([{k: v for k, v in it.items() if k not in ("regions", "embs", "spans")}
                                 for it in items]))
    return items


def threshold_hmm(embs, times):
    """The embedded diarizer's clustering (the default)."""
    return EmbeddedDiarizer().cluster(embs, times)


def nme_count(x: np.ndarray, max_speakers: int = 8, p_share: float = 0.25) -> tuple[int, np.ndarray]:
    """NME-SC (Park et al., 2019): each window keeps its p most similar windows as neighbours; p is chosen where
    p over the normalized maximum eigengap of the binarized affinity's Laplacian is least (the Laplacian's
    largest eigenvalue bounded by twice the largest degree), and the count is that gap's position."""
    from scipy.linalg import eigh

    n = len(x)
    a = x @ x.T
    order = np.argsort(-a, axis=1)
    p_max = max(2, int(p_share * n))
    best = None
    for p in range(2, p_max + 1, max(1, p_max // 15)):
        b = np.zeros_like(a)
        b[np.repeat(np.arange(n), p), order[:, :p].ravel()] = 1.0
        s = (b + b.T) / 2
        lam = eigh(np.diag(s.sum(1)) - s, eigvals_only=True, subset_by_index=[0, min(max_speakers, n - 1)])
        gaps = np.diff(lam)
        ratio = p / (gaps.max() / (2 * s.sum(1).max()) + 1e-10)
        if best is None or ratio < best[0]:
            best = (ratio, int(np.argmax(gaps)) + 1, s)
    return best[1], best[2]


def nme_labels(x: np.ndarray, max_speakers: int = 8) -> np.ndarray:
    """Spectral clustering of the NME-SC affinity into the count it reads."""
    from scipy.cluster.vq import kmeans2
    from scipy.linalg import eigh

    k, s = nme_count(x, max_speakers)
    if k == 1:
        return np.zeros(len(x), dtype=int)
    _, vec = eigh(np.diag(s.sum(1)) - s, subset_by_index=[0, k - 1])
    fits = [kmeans2(vec, k, minit="++", seed=seed) for seed in range(5)]
    return min(fits, key=lambda f: ((vec - f[0][f[1]]) ** 2).sum())[1]


def nme_hmm(embs, times):
    """NME-SC's count and labels in place of the similarity threshold; small clusters and the HMM as now."""
    x = clustering._unit(np.asarray(embs, np.float64))
    if len(x) < 20:
        return threshold_hmm(embs, times)
    labels = nme_labels(x)
    cents = clustering._kmeans(x, clustering._absorb_small(x, labels, 8, 0.5))
    return clustering.hmm_resegment(x, cents, times) if len(cents) > 1 else np.zeros(len(x), dtype=int)


def over_hmm(same_voice, min_share=0.01, concentration=20.0):
    """VBx-style counting: over-cluster (a stricter same-voice bar), then let the HMM's speaker priors prune."""
    def method(embs, times):
        x = clustering._unit(np.asarray(embs, np.float64))
        if len(x) < 3:
            return np.zeros(len(x), dtype=int)
        cents = clustering.speaker_centroids(x, same_voice=same_voice)
        if len(cents) == 1:
            return np.zeros(len(x), dtype=int)
        return clustering.hmm_resegment(x, cents, times, concentration=concentration, min_share=min_share)
    return method


def adaptive_hmm(offset, lo=1.6, hi=2.0, min_pairs=10):
    """The same-voice bar read from the recording: the median similarity of windows `lo`-`hi` s apart (mostly
    one turn, no shared audio) less `offset`; music and noise lower every similarity, and the bar with them."""
    def method(embs, times):
        x = clustering._unit(np.asarray(embs, np.float64))
        if len(x) < 3:
            return np.zeros(len(x), dtype=int)
        dt = times[None] - times[:, None]
        near = (dt >= lo) & (dt < hi)
        same_voice = float(np.median((x @ x.T)[near])) - offset if near.sum() >= min_pairs else 0.68
        cents = clustering.speaker_centroids(x, same_voice=same_voice)
        if len(cents) == 1:
            return np.zeros(len(x), dtype=int)
        return clustering.hmm_resegment(x, cents, times)
    return method


METHODS = {"threshold_hmm": threshold_hmm, "nme_hmm": nme_hmm,
           "adaptive_030": adaptive_hmm(0.03), "adaptive_045": adaptive_hmm(0.045),
           "adaptive_060": adaptive_hmm(0.06), "adaptive_080": adaptive_hmm(0.08),
           "adaptive_045_wide": adaptive_hmm(0.045, 1.6, 3.0),
           "over72_hmm": over_hmm(0.72), "over76_hmm": over_hmm(0.76), "over76_share5": over_hmm(0.76, 0.05),
           "over76_k10_share5": over_hmm(0.76, 0.05, 10.0)}


class CloseSecondDiarizer(EmbeddedDiarizer):
    """The default timeline without the vote-based overlap; a step gets a second speaker where its covering
    windows score, window by window (median), within `margin` of the runner-up speaker: a mixture of two
    voices scores close to both, while at a clean turn change each window is close to one."""

    def __init__(self, margin: float):
        super().__init__(overlap_share=1.01)
        self.margin = margin

    def _timeline(self, regions, spans, labels, embs):
        from animproc.audio.diarize import _merge_steps, speaker_similarities

        ids, sims = speaker_similarities(embs, labels)
        steps = []
        for t0, seg_end, cover in self.timeline_steps(regions, spans):
            first = int(np.argmax(np.bincount(labels[cover], minlength=len(ids))))
            steps.append((t0, seg_end, first, False, 1.0))
            if len(ids) > 1:
                rest = sims[cover].copy()
                rest[:, first] = -np.inf
                second = int(np.argmax(rest.mean(0)))
                if np.median(sims[cover, first] - sims[cover, second]) < self.margin:
                    steps.append((t0, seg_end, second, True, 1.0))
        return _merge_steps(steps)


def evaluate(items: list[dict], method, overlap_share: float = 0.4, overlap_margin: float | None = None) -> list[dict]:
    engine = (EmbeddedDiarizer(overlap_share=overlap_share) if overlap_margin is None
              else CloseSecondDiarizer(overlap_margin))
    rows = []
    for it in items:
        if len(it["embs"]) == 0:
            continue
        labels = method(it["embs"], it["spans"].mean(axis=1))
        segments = engine._timeline(it["regions"], it["spans"], labels, it["embs"])
        reference = SimpleNamespace(reference=[tuple(t) for t in it["reference"]])
        r = score([(s.start, s.end, s.speaker) for s in segments], reference)
        rows.append({"case": it["case"], "split": it["split"], "input": it["input"], "auto": it["auto"],
                     "der": r["der"], "missed": r["missed"], "false_alarm": r["false_alarm"],
                     "confusion": r["confusion"], "total_s": r["total_s"],
                     "speakers_true": len({t[2] for t in it["reference"]}),
                     "speakers_found": len({s.speaker for s in segments})})
    return rows


def single_speaker_counts(items: list[dict], min_windows: int = 20) -> list[dict]:
    """One-voice cases cut from every case: the windows lying wholly inside one reference speaker's turns and
    touching no other's. A count rule that reads more than one speaker here splits a voice."""
    out = []
    for it in items:
        x = clustering._unit(it["embs"].astype(np.float64))
        for spk in sorted({t[2] for t in it["reference"]}):
            own = [(a, b) for a, b, s in it["reference"] if s == spk]
            other = [(a, b) for a, b, s in it["reference"] if s != spk]
            inside = np.array([any(a <= s0 and s1 <= b for a, b in own) and not any(a < s1 and s0 < b for a, b in other)
                               for s0, s1 in it["spans"]], dtype=bool)
            if inside.sum() >= min_windows:
                out.append({"case": it["case"], "input": it["input"], "speaker": spk, "windows": int(inside.sum()),
                            "bar": len(clustering.speaker_centroids(x[inside])), "nme": nme_count(x[inside])[0]})
    return out


def pooled(rows: list[dict], split: str, which: str) -> float:
    sel = [r for r in rows if r["split"] == split and (r["input"] == "mixture" if which == "mixture" else r["auto"])]
    return sum(r["der"] * r["total_s"] for r in sel) / sum(r["total_s"] for r in sel)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cache", default="/tmp/animproc_diarization_cache")
    parser.add_argument("--methods", nargs="*")
    parser.add_argument("--overlap-share", type=float, default=0.4,
                        help="the timeline's share of covering windows that makes a second speaker overlap")
    parser.add_argument("--single-speakers", action="store_true",
                        help="also count speakers on one-voice cuts of every case (the bar and NME-SC)")
    parser.add_argument("--overlap-margin", type=float,
                        help="instead, overlap where the covering windows score within this of a second speaker")
    args = parser.parse_args()
    items = embed_cases(Path(args.cache))
    for name in args.methods or list(METHODS):
        rows = evaluate(items, METHODS[name], args.overlap_share, args.overlap_margin)
        cells = " ".join(f"{r['case'][:14]}/{r['input'][:3]}:{r['der']:.1%}({r['speakers_true']}/"
                         f"{r['speakers_found']})" for r in rows)
        print(f"{name}: dev mix {pooled(rows, 'dev', 'mixture'):.1%} auto {pooled(rows, 'dev', 'auto'):.1%} | "
              f"check mix {pooled(rows, 'check', 'mixture'):.1%} auto {pooled(rows, 'check', 'auto'):.1%}\n  {cells}",
              flush=True)
    if args.single_speakers:
        for r in single_speaker_counts(items):
            print(json.dumps(r))


if __name__ == "__main__":
    main()
