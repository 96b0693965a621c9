"""Audio assets, partitioned by film: audio -> diarization."""
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from dagster import AssetExecutionContext, Failure, MaterializeResult, MetadataValue, asset

from animproc.audio.diarize import SR, segments_table, to_rttm
from animproc.audio.extract import extract_audio, read_mono
from animproc.errors import AnimprocError
from animproc.image.preview import figure_png, markdown_image, markdown_table
from animproc.library import source_path
from assets import fail
from assets.versioning import content_versioned
from partitions import film_partitions
from resources.diarizer import DiarizerResource
from resources.film_config import FilmConfigResource
from resources.placement import step_pool, step_tags
from resources.separator import SeparatorResource
from resources.storage import StorageResource

GROUP = "audio"


def _audio_info(st, film: str) -> dict:
    return json.loads((st.asset_dir(film, "audio") / "audio.json").read_text())


@asset(partitions_def=film_partitions, group_name=GROUP, code_version="1", deps=["source_video"], kinds={"wav", "flac"},
       op_tags=step_tags("audio"), pool=step_pool("audio"),
       description="The film's first audio track: a 16 kHz mono WAV for analysis and a full-rate stereo FLAC for "
                   "separation (other layouts downmixed). A film without audio records that plainly.")
@content_versioned
def audio(context: AssetExecutionContext, storage: StorageResource) -> MaterializeResult:
    film = context.partition_key
    st = storage.storage()
    started = time.perf_counter()
    try:
        media = source_path(st, film)
        with st.local_copy(media) as local, st.publish_dir(film, "audio") as out, \
                tempfile.TemporaryDirectory(prefix="animproc-audio-") as tmp:
            wav, flac = Path(tmp) / "analysis_16k.wav", Path(tmp) / "audio.flac"
            track = extract_audio(local, wav, flac)
            info = {"has_audio": track is not None, **(track.to_dict() if track else {})}
            if track is not None:
                st.upload_file(wav, out / wav.name)
                st.upload_file(flac, out / flac.name)
            st.write_text(out / "audio.json", json.dumps(info, indent=2))
    except AnimprocError as exc:
        raise fail(exc) from None
    if track is None:
        return MaterializeResult(metadata={"has_audio": False, "note": "the film has no audio stream"})
    return MaterializeResult(metadata={
        "has_audio": True, "codec": track.codec, "layout": track.layout, "sample_rate": track.sample_rate,
        "duration_s": round(track.duration_s, 3), "corrupt_packets_replaced_by_silence": track.corrupt_packets,
        "seconds": round(time.perf_counter() - started, 2)})


@asset(partitions_def=film_partitions, group_name=GROUP, code_version="1", deps=["audio"], kinds={"flac"},
       op_tags=step_tags("vocals"), pool=step_pool("vocals"),
       description="Dialogue and accompaniment stems (stereo FLAC at the film's rate), separated chunk by chunk "
                   "so a feature film never sits in memory.")
@content_versioned
def vocals(context: AssetExecutionContext, storage: StorageResource, separator: SeparatorResource) -> MaterializeResult:
    from animproc.audio.separate import separate_file

    film = context.partition_key
    st = storage.storage()
    if not _audio_info(st, film)["has_audio"]:
        with st.publish_dir(film, "vocals") as out:
            st.write_text(out / "vocals.json", json.dumps({"has_audio": False}))
        return MaterializeResult(metadata={"has_audio": False, "note": "the film has no audio"})
    started = time.perf_counter()
    try:
        engine = separator.model()
    except AnimprocError as exc:
        raise fail(exc) from None
    with st.local_copy(st.asset_dir(film, "audio") / "audio.flac") as flac, st.publish_dir(film, "vocals") as out, \
            tempfile.TemporaryDirectory(prefix="animproc-vocals-") as tmp:
        voc, acc = Path(tmp) / "vocals.flac", Path(tmp) / "accompaniment.flac"
        info = separate_file(engine, flac, voc, acc, chunk_seconds=separator.chunk_seconds)
        st.upload_file(voc, out / voc.name)
        st.upload_file(acc, out / acc.name)
        st.write_text(out / "vocals.json", json.dumps({"has_audio": True, **info}))
    elapsed = time.perf_counter() - started
    return MaterializeResult(metadata={"has_audio": True, "separator": engine.name, "seconds": round(elapsed, 2),
                                       "real_time_factor": round(elapsed / max(info["seconds"], 1e-9), 4)})


def _timeline(segments: pd.DataFrame, duration: float) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    speakers = sorted(segments["speaker"].unique())
    fig, ax = plt.subplots(figsize=(8, 0.5 + 0.35 * len(speakers)))
    for k, spk in enumerate(speakers):
        rows = segments[segments["speaker"] == spk]
        ax.broken_barh(list(zip(rows["start"], rows["end"] - rows["start"])), (k - 0.4, 0.8))
    ax.set_yticks(range(len(speakers)), speakers, fontsize=7)
    ax.set_xlim(0, duration)
    ax.set_xlabel("seconds", fontsize=8)
    return markdown_image(figure_png(fig), "image/png", "speakers")


@asset(partitions_def=film_partitions, group_name=GROUP, code_version="1", deps=["audio", "vocals"], kinds={"parquet"},
       op_tags=step_tags("diarization"), pool=step_pool("diarization"),
       description="Who speaks when, on the mixture or (film config `audio.diarize_on: vocals`) the vocals stem: "
                   "speech segments (start, end, speaker, confidence, overlap), an RTTM file, and a voice sample "
                   "clip per speaker.")
@content_versioned
def diarization(context: AssetExecutionContext, storage: StorageResource, diarizer: DiarizerResource,
                film_config: FilmConfigResource) -> MaterializeResult:
    film = context.partition_key
    st = storage.storage()
    info = _audio_info(st, film)
    if not info["has_audio"]:
        with st.publish_dir(film, "diarization") as out:
            st.write_parquet(out / "segments.parquet", segments_table(film, []))
            st.write_text(out / f"{film}.rttm", "")
        return MaterializeResult(metadata={"has_audio": False, "speakers": 0, "note": "the film has no audio"})
    started = time.perf_counter()
    config, _ = film_config.load(film)
    stem = st.asset_dir(film, "vocals") / "vocals.flac"
    if config.audio.diarize_on == "vocals" and not stem.exists():
        raise Failure(description=f"film {film!r} is set to diarize the vocals stem: materialise vocals first")
    source = stem if config.audio.diarize_on == "vocals" else st.asset_dir(film, "audio") / "analysis_16k.wav"
    with st.local_copy(source) as wav_path:
        wav = read_mono(wav_path)
    try:
        engine = diarizer.model()
    except AnimprocError as exc:
        raise fail(exc) from None
    segments = engine(wav)
    table = segments_table(film, segments)
    with st.publish_dir(film, "diarization") as out:
        st.write_parquet(out / "segments.parquet", table)
        st.write_text(out / f"{film}.rttm", to_rttm(segments, film))
        for speaker, clip in _voice_samples(table, wav).items():
            st.write_bytes(out / "voice_samples" / f"{speaker}.wav", clip)
    talk = table[~table["overlap"]].assign(d=lambda t: t["end"] - t["start"]).groupby("speaker")["d"].sum()
    return MaterializeResult(metadata={
        "has_audio": True, "backend": engine.name, "speakers": int(table["speaker"].nunique()),
        "diarized_on": "vocals stem" if source == stem else "mixture",
        "speech_seconds": round(float(talk.sum()), 2),
        "talk_time_s": MetadataValue.json({k: round(float(v), 2) for k, v in talk.items()}),
        "overlap_seconds": round(float((table["end"] - table["start"])[table["overlap"]].sum()), 2),
        "timeline": MetadataValue.md(_timeline(table, len(wav) / SR) if len(table) else "no speech found"),
        "real_time_factor": round((time.perf_counter() - started) / max(len(wav) / SR, 1e-9), 4),
    })


def _voice_samples(table: pd.DataFrame, wav: np.ndarray, seconds: float = 8.0) -> dict[str, bytes]:
    """Each speaker's most confident non-overlapping speech, up to `seconds`, as 16 kHz WAV bytes."""
    import io
    import wave

    out = {}
    for speaker, rows in table[~table["overlap"]].groupby("speaker"):
        pieces, total = [], 0.0
        for r in rows.sort_values("confidence", ascending=False).itertuples():
            if total >= seconds:
                break
            take = min(r.end - r.start, seconds - total)
            pieces.append(wav[int(r.start * SR):int((r.start + take) * SR)])
            total += take
        pcm = (np.clip(np.concatenate(pieces), -1, 1) * 32767).astype("<i2").tobytes() if pieces else b""
        buf = io.BytesIO()
        with wave.open(buf, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(SR)
            w.writeframes(pcm)
        out[str(speaker)] = buf.getvalue()
    return out


def _feature_plots(table: pd.DataFrame) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(9, 2.6))
    names = table["speaker"].tolist()
    axes[0].barh(names, table["f0_median_hz"], xerr=table["f0_std_hz"], color="tab:blue")
    axes[0].set_title("F0 median ± sd (Hz)", fontsize=8)
    axes[1].barh(names, table["speaking_rate_syllables_per_s"], color="tab:green")
    axes[1].set_title("speaking rate (syll/s)", fontsize=8)
    axes[2].barh(names, table["arousal"], color="tab:red")
    axes[2].set_xlim(0, 1)
    axes[2].set_title("arousal (heuristic, 0-1)", fontsize=8)
    for ax in axes:
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return markdown_image(figure_png(fig), "image/png", "voice features")


@asset(partitions_def=film_partitions, group_name=GROUP, code_version="1", deps=["diarization"], kinds={"parquet"},
       op_tags=step_tags("voice_features"), pool=step_pool("voice_features"),
       description="Per speaker: F0 distribution (pYIN), timbre (MFCC, spectral statistics), speaking rate, loudness "
                   "dynamics, prosody (F0 range and slope) and a heuristic arousal/tone estimate that says how it "
                   "was obtained.")
@content_versioned
def voice_features(context: AssetExecutionContext, storage: StorageResource) -> MaterializeResult:
    from animproc.audio.features import TONE_METHOD, speaker_features

    film = context.partition_key
    st = storage.storage()
    started = time.perf_counter()
    segments = st.read_parquet(st.asset_dir(film, "diarization") / "segments.parquet")
    if _audio_info(st, film)["has_audio"] and len(segments):
        with st.local_copy(st.asset_dir(film, "audio") / "analysis_16k.wav") as wav_path:
            table = speaker_features(read_mono(wav_path), segments)
    else:
        table = pd.DataFrame(columns=["speaker"])
    table.insert(0, "film", film)
    with st.publish_dir(film, "voice_features") as out:
        st.write_parquet(out / "voice_features.parquet", table)
    if table.empty:
        return MaterializeResult(metadata={"speakers": 0, "note": "no audio or no speech in this film"})
    summary = table[["speaker", "f0_median_hz", "speaking_rate_syllables_per_s", "loudness_mean_db", "tone"]]
    return MaterializeResult(metadata={
        "speakers": len(table), "tone_method": TONE_METHOD,
        "summary": MetadataValue.md(markdown_table(summary.round(2))),
        "plots": MetadataValue.md(_feature_plots(table)), "seconds": round(time.perf_counter() - started, 2)})

