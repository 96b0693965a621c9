"""Speaker diarization that runs offline on CPU with weights shipped in PyPI packages.

1. Speech regions: silero-vad.
2. Speaker embeddings: resemblyzer's d-vectors on 1.6 s windows every 0.25 s inside each region (the raw
   signal, not resemblyzer's `preprocess_wav`, which cuts silences and would shift every timestamp).
3. Speakers (`clustering.py`): the count from the windows' similarity structure (agglomerative clustering
   stopped at the similarity of one voice, short clusters absorbed unless they sound like no one else), then
   a VBx-style HMM resegmentation of the turns. At most `max_items` representatives (means of consecutive
   windows) are clustered; the HMM then runs over every window, so a feature film costs little more than a
   short one in the clustering step.
4. Timeline: each 50 ms step inside speech takes the majority speaker of the windows covering it. Where a
   second speaker holds at least `overlap_share` of those windows (turn changes), both are assigned: the
   overlap is reported rather than given to one of them.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from animproc.audio.clustering import cluster_speakers, hmm_resegment, speaker_centroids
from animproc.errors import ModelError
from animproc.progress import NO_PROGRESS, Progress

SR = 16000


@dataclass(frozen=True)
class SpeechSegment:
    start: float
    end: float
    speaker: str
    confidence: float
    overlap: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


class EmbeddedDiarizer:
    name = "embedded (silero-vad + resemblyzer + similarity-threshold clustering + HMM resegmentation)"
    licence = "MIT (silero-vad) + Apache-2.0 (resemblyzer)"

    def __init__(self, vad_threshold: float = 0.5, windows_per_second: int = 4, overlap_share: float = 0.4,
                 max_speakers: int = 8, max_items: int = 2000, step: float = 0.05):
        self.vad_threshold, self.rate, self.overlap_share = vad_threshold, windows_per_second, overlap_share
        self.max_speakers, self.max_items, self.step = max_speakers, max_items, step
        self._vad = self._encoder = None

    def _models(self):
        if self._vad is None:
            from resemblyzer import VoiceEncoder
            from silero_vad import load_silero_vad

            self._vad = load_silero_vad()
            self._encoder = VoiceEncoder("cpu", verbose=False)
        return self._vad, self._encoder

    def speech_regions(self, wav: np.ndarray) -> list[tuple[float, float]]:
        import torch
        from silero_vad import get_speech_timestamps

        vad, _ = self._models()
        found = get_speech_timestamps(torch.from_numpy(wav), vad, sampling_rate=SR, return_seconds=True,
                                      threshold=self.vad_threshold)
        return [(float(r["start"]), float(r["end"])) for r in found]

    def embed(self, wav: np.ndarray, regions, progress: Progress = NO_PROGRESS) -> tuple[np.ndarray, np.ndarray]:
        """Window embeddings (n, 256) and their (start, end) times (n, 2); `progress` hears of the seconds of
        speech embedded."""
        _, encoder = self._models()
        embs, spans = [], []
        task = progress.task("diarize", round(sum(b - a for a, b in regions), 1), "s of speech")
        for start, end in regions:
            seg = wav[int(start * SR):int(end * SR)]
            if len(seg) >= 0.4 * SR:
                _, partials, slices = encoder.embed_utterance(seg, return_partials=True, rate=self.rate,
                                                              min_coverage=0.5)
                for emb, sl in zip(partials, slices):
                    spans.append((start + sl.start / SR, start + min(sl.stop, len(seg)) / SR))
                    embs.append(emb)
            task.advance(end - start)
        task.finish()
        return np.asarray(embs, np.float32).reshape(-1, 256), np.asarray(spans, np.float64).reshape(-1, 2)

    def cluster(self, embs: np.ndarray, times: np.ndarray | None = None) -> np.ndarray:
        if len(embs) <= self.max_items:
            return cluster_speakers(embs, self.max_speakers, times=times)
        groups = np.array_split(np.arange(len(embs)), self.max_items)
        reps = np.stack([embs[g].mean(0) for g in groups])
        cents = speaker_centroids(reps, self.max_speakers)
        x = embs / np.linalg.norm(embs, axis=1, keepdims=True)
        return hmm_resegment(x, cents, times) if len(cents) > 1 else np.zeros(len(embs), dtype=int)

    def __call__(self, wav: np.ndarray, progress: Progress = NO_PROGRESS) -> list[SpeechSegment]:
        regions = self.speech_regions(wav)
        embs, spans = self.embed(wav, regions, progress)
        if len(embs) == 0:
            return [SpeechSegment(a, b, "speaker_00", 0.0) for a, b in regions]
        labels = self.cluster(embs, spans.mean(axis=1))
        return self._timeline(regions, spans, labels, embs)

    def _timeline(self, regions, spans, labels, embs) -> list[SpeechSegment]:
        ids, sims = speaker_similarities(embs, labels)
        margin = np.sort(sims, axis=1)[:, -1] - (np.sort(sims, axis=1)[:, -2] if len(ids) > 1 else 0)
        steps: list[tuple[float, float, int, bool, float]] = []
        for t0, seg_end, cover in self.timeline_steps(regions, spans):
            counts = np.bincount(labels[cover], minlength=len(ids)) / len(cover)
            order = np.argsort(-counts)
            conf = float(np.clip(margin[cover].mean() * 4, 0, 1))
            steps.append((t0, seg_end, int(order[0]), False, conf))
            if len(order) > 1 and counts[order[1]] >= self.overlap_share:
                steps.append((t0, seg_end, int(order[1]), True, conf))
        return _merge_steps(steps)

    def timeline_steps(self, regions, spans):
        """(start, end, covering windows) of every `step` of the speech regions: the windows whose span holds
        the step's centre, else the nearest one, which the step's speaker is voted from."""
        centres = spans.mean(axis=1)
        for start, end in regions:
            for t0 in np.arange(start, end, self.step):
                c = t0 + self.step / 2
                cover = np.flatnonzero((spans[:, 0] <= c) & (c < spans[:, 1]))
                if len(cover) == 0:
                    cover = np.array([int(np.argmin(np.abs(centres - c)))])
                yield t0, min(t0 + self.step, end), cover


def speaker_similarities(embs: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The speaker ids and each window's cosine similarity to every speaker's centroid."""
    x = embs / np.linalg.norm(embs, axis=1, keepdims=True)
    ids = np.unique(labels)
    cents = np.stack([x[labels == k].mean(0) for k in ids])
    cents /= np.linalg.norm(cents, axis=1, keepdims=True)
    return ids, x @ cents.T


STEM_SPEECH_GAIN = 1.1  # the stem must show this much more speech than the mixture (and 1 s more) to be chosen


def speech_seconds(wav: np.ndarray, vad_threshold: float = 0.5) -> float:
    return float(sum(b - a for a, b in EmbeddedDiarizer(vad_threshold).speech_regions(wav)))


def choose_input(mixture: np.ndarray, stem: np.ndarray, vad_threshold: float = 0.5) -> tuple[str, dict]:
    """`vocals` where music hides speech: voice activity detection finds clearly more speech on the vocals stem
    than on the mixture (the Sintel trailer: 4 lines on the stem, 2 on the mixture). Where the mixture shows as
    much speech, it is kept: the separator's residue costs the speaker embeddings more than it gains."""
    on_mix, on_stem = speech_seconds(mixture, vad_threshold), speech_seconds(stem, vad_threshold)
    use_stem = on_stem >= STEM_SPEECH_GAIN * on_mix and on_stem - on_mix >= 1.0
    return ("vocals" if use_stem else "mixture",
            {"speech_s_mixture": round(on_mix, 2), "speech_s_vocals": round(on_stem, 2)})


def _merge_steps(steps) -> list[SpeechSegment]:
    by_speaker: dict[int, list] = {}
    for s in steps:
        by_speaker.setdefault(s[2], []).append(s)
    out = []
    for spk, items in by_speaker.items():
        items.sort()
        cur = list(items[0])
        confs = [cur[4]]
        for a, b, _, ov, conf in items[1:]:
            if a - cur[1] < 1e-6 and ov == cur[3]:
                cur[1] = b
                confs.append(conf)
            else:
                out.append(SpeechSegment(round(cur[0], 3), round(cur[1], 3), f"speaker_{spk:02d}",
                                         round(float(np.mean(confs)), 3), cur[3]))
                cur, confs = [a, b, spk, ov, conf], [conf]
        out.append(SpeechSegment(round(cur[0], 3), round(cur[1], 3), f"speaker_{spk:02d}",
                                 round(float(np.mean(confs)), 3), cur[3]))
    return sorted(out, key=lambda s: (s.start, s.speaker))


SEGMENT_COLUMNS = {"film": "object", "start": "float64", "end": "float64", "speaker": "object",
                   "confidence": "float64", "overlap": "bool"}


def _pipeline_hook(progress: Progress):
    """A pyannote pipeline hook (step name, artefact, total, completed) passing each step's batches to
    `progress` as a task of its own (segmentation, embeddings, ...)."""
    tasks: dict = {}

    def hook(step_name, step_artifact, file=None, total=None, completed=None):
        if total is None or completed is None:
            return
        task = tasks.get(step_name) or tasks.setdefault(step_name, progress.task(f"diarize {step_name}", total, "batches"))
        task.update(completed)
        if completed >= total:
            task.finish()

    return hook


def segments_table(film: str, segments: list[SpeechSegment]):
    """The diarization product's table, typed even when empty: audio without speech (a tone, music, silence) is
    a valid product with no rows, and boolean masks and groupbys on it work as on any other."""
    import pandas as pd

    rows = [{"film": film, **s.to_dict()} for s in segments]
    return pd.DataFrame(rows, columns=list(SEGMENT_COLUMNS)).astype(SEGMENT_COLUMNS)


def to_rttm(segments: list[SpeechSegment], file_id: str) -> str:
    return "".join(f"SPEAKER {file_id} 1 {s.start:.3f} {s.end - s.start:.3f} <NA> <NA> {s.speaker} <NA> <NA>\n"
                   for s in segments)


def parse_rttm(text: str) -> list[tuple[float, float, str]]:
    turns = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 8 and parts[0] == "SPEAKER":
            start, dur = float(parts[3]), float(parts[4])
            turns.append((start, start + dur, parts[7]))
    return turns


class PyannoteDiarizer:
    """A pyannote.audio pipeline (e.g. speaker-diarization-community-1) from a local folder: its config.yaml
    names the segmentation, embedding and PLDA folders beside it, so nothing is fetched and no token is
    needed. The waveform is passed in memory. pyannote gives no per-turn confidence: turns carry 1.0, and
    speech it attributes to two speakers at once is written as overlap rows for the second speaker."""

    name = "pyannote"
    licence = "MIT (pyannote.audio pipelines); check the local pipeline's model cards"

    def __init__(self, pipeline_dir: str | Path, device: str = "auto", max_speakers: int | None = None):
        import torch

        folder = Path(pipeline_dir)
        if not (folder / "config.yaml").is_file():
            raise ModelError(folder, "no pyannote pipeline here (config.yaml missing)")
        from pyannote.audio import Pipeline

        try:
            self.pipeline = Pipeline.from_pretrained(folder)
        except Exception as exc:  # pyannote raises many types for a broken folder
            raise ModelError(folder, f"cannot load the pyannote pipeline ({str(exc).splitlines()[0]})") from None
        if self.pipeline is None:
            raise ModelError(folder, "cannot load the pyannote pipeline")
        use_cuda = torch.cuda.is_available() if device == "auto" else device == "cuda"
        if use_cuda:
            self.pipeline.to(torch.device("cuda"))
        self.max_speakers = max_speakers

    def __call__(self, wav: np.ndarray, progress: Progress = NO_PROGRESS) -> list[SpeechSegment]:
        import torch

        if len(wav) < SR // 2:
            return []
        kwargs = {"max_speakers": self.max_speakers} if self.max_speakers else {}
        out = self.pipeline({"waveform": torch.from_numpy(np.ascontiguousarray(wav, np.float32))[None],
                             "sample_rate": SR}, hook=_pipeline_hook(progress), **kwargs)
        full = getattr(out, "speaker_diarization", out)
        exclusive = getattr(out, "exclusive_speaker_diarization", None) or full
        names = {}
        for _, _, label in full.itertracks(yield_label=True):
            names.setdefault(label, f"speaker_{len(names):02d}")
        segments = [SpeechSegment(round(s.start, 3), round(s.end, 3), names[label], 1.0)
                    for s, _, label in exclusive.itertracks(yield_label=True) if label in names]
        for label, name in names.items():
            extra = full.label_timeline(label).extrude(exclusive.label_timeline(label))
            segments += [SpeechSegment(round(s.start, 3), round(s.end, 3), name, 1.0, True)
                         for s in extra if s.duration > 0]
        return sorted(segments, key=lambda s: (s.start, s.overlap))
