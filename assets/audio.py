"""Audio assets, partitioned by film: audio -> vocals, diarization -> voice_features."""
import tempfile
from pathlib import Path

import pandas as pd
from dagster import AssetExecutionContext, MetadataValue

from animproc.audio.diarize import SR, choose_input, segments_table, to_rttm
from animproc.audio.extract import extract_audio, read_mono
from animproc.errors import AnimprocError
from animproc.audio.samples import voice_samples
from animproc.image.plots import speaker_timeline, voice_feature_bars
from animproc.image.preview import markdown_image, markdown_table
from assets import fail, film_asset, film_step
from resources.diarizer import DiarizerResource
from resources.film_config import FilmConfigResource
from resources.separator import SeparatorResource
from resources.storage import StorageResource

GROUP = "audio"
NO_AUDIO = "the film has no audio"


@film_asset(code_version="1", group_name=GROUP, deps=["source_video"], kinds={"wav", "flac"},
            description="The film's first audio track: a 16 kHz mono WAV for analysis and a full-rate stereo FLAC "
                        "for separation (other layouts downmixed). A film without audio records that plainly.")
def audio(context: AssetExecutionContext, storage: StorageResource):
    with film_step(context, storage) as step:
        with step.storage.local_copy(step.products.source_media()) as local, \
                step.products.publish("audio") as out, tempfile.TemporaryDirectory(prefix="animproc-audio-") as tmp:
            wav, flac = Path(tmp) / "analysis_16k.wav", Path(tmp) / "audio.flac"
            track = extract_audio(local, wav, flac, step.progress)
            if track is not None:
                out.upload("analysis", wav)
                out.upload("full", flac)
            out.json("info", {"has_audio": track is not None, **(track.to_dict() if track else {})})
        if track is None:
            return step.result({"has_audio": False, "note": "the film has no audio stream"})
        return step.result({
            "has_audio": True, "codec": track.codec, "layout": track.layout, "sample_rate": track.sample_rate,
            "duration_s": round(track.duration_s, 3), "corrupt_packets_replaced_by_silence": track.corrupt_packets,
            "seconds": step.seconds()})


@film_asset(code_version="1", group_name=GROUP, deps=["audio"], kinds={"flac"},
            description="Dialogue and accompaniment stems (stereo FLAC at the film's rate), separated chunk by chunk "
                        "so a feature film never sits in memory.")
def vocals(context: AssetExecutionContext, storage: StorageResource, separator: SeparatorResource):
    from animproc.audio.separate import separate_file

    with film_step(context, storage) as step:
        products = step.products
        if not products.json("audio", "info")["has_audio"]:
            with products.publish("vocals") as out:
                out.json("info", {"has_audio": False})
            return step.result({"has_audio": False, "note": NO_AUDIO})
        try:
            engine = separator.model()
        except AnimprocError as exc:
            raise fail(str(exc)) from None
        with step.storage.local_copy(products.file("audio", "full")) as flac, products.publish("vocals") as out, \
                tempfile.TemporaryDirectory(prefix="animproc-vocals-") as tmp:
            voc, acc = Path(tmp) / "vocals.flac", Path(tmp) / "accompaniment.flac"
            info = separate_file(engine, flac, voc, acc, chunk_seconds=separator.chunk_seconds,
                                 progress=step.progress)
            out.upload("vocals", voc)
            out.upload("accompaniment", acc)
            out.json("info", {"has_audio": True, **info})
        return step.result({"has_audio": True, "separator": engine.name, "seconds": step.seconds(),
                            "real_time_factor": round(step.elapsed() / max(info["seconds"], 1e-9), 4)})


def _diarization_input(step, vad_threshold: float):
    """The waveform the diarizer hears, whether it is the vocals stem, and (auto) the speech each input showed."""
    film, products, mode = step.film, step.products, step.config.audio.diarize_on
    stem, mixture = products.file("vocals", "vocals"), products.file("audio", "analysis")
    if mode == "vocals" and not stem.exists():
        raise fail(f"film {film!r} is set to diarize the vocals stem: materialise vocals first")
    with step.storage.local_copy(stem if mode == "vocals" else mixture) as wav_path:
        wav = read_mono(wav_path)
    if mode != "auto" or not stem.exists():
        return wav, mode == "vocals", {}
    with step.storage.local_copy(stem) as stem_path:
        stem_wav = read_mono(stem_path)
    mode, choice = choose_input(wav, stem_wav, vad_threshold)
    return (stem_wav if mode == "vocals" else wav), mode == "vocals", choice


@film_asset(code_version="2", group_name=GROUP, deps=["audio", "vocals"], kinds={"parquet"},
            description="Who speaks when, on the mixture or the vocals stem (film config `audio.diarize_on`; by "
                        "default the stem where the score hides speech on the mixture): speech segments (start, "
                        "end, speaker, confidence, overlap), an RTTM file, and a voice sample clip per speaker.")
def diarization(context: AssetExecutionContext, storage: StorageResource, diarizer: DiarizerResource,
                film_config: FilmConfigResource):
    with film_step(context, storage, film_config) as step:
        film, products = step.film, step.products
        if not products.json("audio", "info")["has_audio"]:
            with products.publish("diarization") as out:
                out.table("segments", segments_table(film, []))
                out.text("rttm", "")
            return step.result({"has_audio": False, "speakers": 0, "note": NO_AUDIO})
        wav, on_vocals, choice = _diarization_input(step, diarizer.vad_threshold)
        engine = diarizer.model()
        segments = engine(wav, progress=step.progress)
        table = segments_table(film, segments)
        with products.publish("diarization") as out:
            out.table("segments", table)
            out.text("rttm", to_rttm(segments, film))
            for speaker, clip in voice_samples(table, wav).items():
                out.blob(f"voice_samples/{speaker}.wav", clip)
        talk = table[~table["overlap"]].assign(d=lambda t: t["end"] - t["start"]).groupby("speaker")["d"].sum()
        timeline = markdown_image(speaker_timeline(table, len(wav) / SR), "image/png", "speakers")
        return step.result({
            "has_audio": True, "backend": engine.name, "speakers": int(table["speaker"].nunique()),
            "diarized_on": "vocals stem" if on_vocals else "mixture", **choice,
            "speech_seconds": round(float(talk.sum()), 2),
            "talk_time_s": MetadataValue.json({k: round(float(v), 2) for k, v in talk.items()}),
            "overlap_seconds": round(float((table["end"] - table["start"])[table["overlap"]].sum()), 2),
            "timeline": MetadataValue.md(timeline if len(table) else "no speech found"),
            "real_time_factor": round(step.elapsed() / max(len(wav) / SR, 1e-9), 4)})


@film_asset(code_version="1", group_name=GROUP, deps=["diarization", "audio"], kinds={"parquet"},
            description="Per speaker: F0 distribution (pYIN), timbre (MFCC, spectral statistics), speaking rate, "
                        "loudness dynamics, prosody (F0 range and slope) and a heuristic arousal/tone estimate that "
                        "says how it was obtained.")
def voice_features(context: AssetExecutionContext, storage: StorageResource):
    from animproc.audio.features import TONE_METHOD, speaker_features

    with film_step(context, storage) as step:
        products = step.products
        segments = products.table("diarization")
        if products.json("audio", "info")["has_audio"] and len(segments):
            with step.storage.local_copy(products.file("audio", "analysis")) as wav_path:
                table = speaker_features(read_mono(wav_path), segments)
        else:
            table = pd.DataFrame(columns=["speaker"])
        table.insert(0, "film", step.film)
        with products.publish("voice_features") as out:
            out.table("voice_features", table)
        if table.empty:
            return step.result({"speakers": 0, "note": "no audio or no speech in this film"})
        summary = table[["speaker", "f0_median_hz", "speaking_rate_syllables_per_s", "loudness_mean_db", "tone"]]
        return step.result({
            "speakers": len(table), "tone_method": TONE_METHOD,
            "summary": MetadataValue.md(markdown_table(summary.round(2))),
            "plots": MetadataValue.md(markdown_image(voice_feature_bars(table), "image/png", "voice features")),
            "seconds": step.seconds()})
