"""Audio extraction and speaker diarization: core functions, assets, CLI."""
import json
import os
import subprocess
import sys
import wave
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from dagster import AssetKey, instance_for_test

from animproc.audio.diarize import EmbeddedDiarizer, parse_rttm, to_rttm
from animproc.audio.evaluate import diarization_error, si_sdr
from animproc.audio.extract import extract_audio, read_mono
from animproc.library import store_source
from animproc.sample.film import CHARACTERS
from animproc.sample.voices import speak
from animproc.storage import Storage
from animproc_dagster.definitions import build_defs
from dagster_helpers import run_film
from media_helpers import detailed, write_video
from resources.film_config import FilmConfigResource
from resources.storage import StorageResource

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def diarizer():
    return EmbeddedDiarizer()


def _write_audio(path: Path, samples: np.ndarray, rate: int, layout: str, codec: str = "aac") -> Path:
    """Encode float samples (channels, n) into an audio-only container."""
    with av.open(str(path), "w") as c:
        s = c.add_stream(codec, rate=rate)
        s.layout = layout
        for k in range(0, samples.shape[1], 1024):
            f = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[:, k:k + 1024].astype(np.float32)),
                                           format="fltp", layout=layout)
            f.sample_rate, f.pts, f.time_base = rate, k, Fraction(1, rate)
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def test_extraction_writes_16k_mono_and_full_rate_stereo(tmp_path, sample_film):
    track = extract_audio(sample_film[0], tmp_path / "a.wav", tmp_path / "a.flac")
    assert track.sample_rate == 48000 and track.layout == "stereo"
    assert track.duration_s == pytest.approx(sample_film[1]["duration"], abs=0.1)
    with wave.open(str(tmp_path / "a.wav")) as w:
        assert (w.getframerate(), w.getnchannels()) == (16000, 1)
    with av.open(str(tmp_path / "a.flac")) as c:
        s = c.streams.audio[0]
        assert (s.codec_context.name, s.rate, s.layout.name) == ("flac", 48000, "stereo")


def test_surround_and_odd_rates_are_downmixed(tmp_path):
    """A 5.1 track at 22.05 kHz becomes stereo FLAC at its own rate and 16 kHz mono for analysis; a tone on
    the centre channel survives the downmix."""
    t = np.arange(22050 * 2) / 22050
    six = np.zeros((6, len(t)))
    six[2] = 0.3 * np.sin(2 * np.pi * 440 * t)  # centre
    track = extract_audio(_write_audio(tmp_path / "surround.mp4", six, 22050, "5.1"), tmp_path / "a.wav", tmp_path / "a.flac")
    assert track.channels == 6 and track.sample_rate == 22050
    mono = read_mono(tmp_path / "a.wav")
    assert len(mono) == pytest.approx(32000, abs=2000)
    window = mono[4000:20000]
    peak = np.fft.rfftfreq(len(window), 1 / 16000)[np.argmax(np.abs(np.fft.rfft(window)))]
    assert abs(peak - 440) < 2


def test_film_without_audio_returns_none(tmp_path):
    video = write_video(tmp_path / "silent.mp4", [detailed(1)] * 12)
    assert extract_audio(video, tmp_path / "a.wav", tmp_path / "a.flac") is None


def test_sample_film_speakers_are_found(diarizer, sample_film, tmp_path):
    """Each synthetic voice becomes its own speaker, and DER against the ground truth is low."""
    extract_audio(sample_film[0], tmp_path / "a.wav", tmp_path / "a.flac")
    segments = diarizer(read_mono(tmp_path / "a.wav"))
    reference = [(s["start"], s["end"], s["speaker"]) for s in sample_film[1]["speech"]]
    result = diarization_error(reference, [(s.start, s.end, s.speaker) for s in segments])
    assert len({s.speaker for s in segments}) == 3
    assert result["der"] <= 0.15 and result["confusion"] <= 0.05


def test_single_speaker_is_one_cluster(diarizer):
    audio = np.concatenate([speak(4.0, CHARACTERS[1].voice, 16000, seed=k)[0] for k in range(4)])
    segments = diarizer(audio.astype(np.float32))
    assert segments and len({s.speaker for s in segments}) == 1


def test_silence_and_very_short_input_give_empty_or_small_results(diarizer):
    assert diarizer(np.zeros(16000 * 5, np.float32)) == []
    short = speak(1.2, CHARACTERS[0].voice, 16000, seed=3)[0].astype(np.float32)
    segments = diarizer(short)
    assert len({s.speaker for s in segments}) <= 1


def test_rttm_round_trip(diarizer):
    from animproc.audio.diarize import SpeechSegment

    segs = [SpeechSegment(0.5, 1.25, "speaker_00", 0.9), SpeechSegment(2.0, 3.5, "speaker_01", 0.8)]
    assert parse_rttm(to_rttm(segs, "film")) == [(0.5, 1.25, "speaker_00"), (2.0, 3.5, "speaker_01")]


def test_si_sdr_of_a_scaled_copy_is_high_and_of_noise_low():
    rng = np.random.default_rng(0)
    x = rng.normal(size=16000)
    assert si_sdr(0.5 * x, x) > 60
    assert si_sdr(rng.normal(size=16000), x) < -10


def test_audio_assets_and_no_audio_films(tmp_path, sample_film):
    """With audio: files, segments, RTTM, a voice sample per speaker; the default (auto) keeps the mixture of a
    film without music and records the speech each input showed. Without: 'no audio', no failure."""
    st = Storage(tmp_path / "data")
    store_source(st, "talk", sample_film[0])
    store_source(st, "mute", write_video(tmp_path / "mute.mp4", [detailed(1)] * 24 + [detailed(2)] * 24))
    defs = build_defs(StorageResource(root=str(tmp_path / "data")), FilmConfigResource(config_dir=str(tmp_path)))
    audio_assets = [AssetKey(k) for k in ("source_video", "audio", "vocals", "diarization", "voice_features")]
    with instance_for_test() as instance:
        result = run_film(defs, instance, "talk", asset_selection=audio_assets)
        assert result.success
        diarized = [e.event_specific_data.materialization.metadata for e in result.get_asset_materialization_events()
                    if e.event_specific_data.materialization.asset_key == AssetKey("diarization")][0]
        assert diarized["diarized_on"].value == "mixture"
        assert diarized["speech_s_mixture"].value > 0 and "speech_s_vocals" in diarized
        assert run_film(defs, instance, "mute").success
    segments = st.read_parquet(st.asset_dir("talk", "diarization") / "segments.parquet")
    speakers = set(segments["speaker"])
    assert len(speakers) == 3
    assert {p.stem for p in (st.asset_dir("talk", "diarization") / "voice_samples").iterdir()} == speakers
    assert (st.asset_dir("talk", "diarization") / "talk.rttm").read_text().count("SPEAKER") == len(segments)
    assert json.loads((st.asset_dir("mute", "audio") / "audio.json").read_text()) == {"has_audio": False}
    assert st.read_parquet(st.asset_dir("mute", "diarization") / "segments.parquet").empty
    assert st.read_parquet(st.asset_dir("mute", "voice_features") / "voice_features.parquet").empty
    assert json.loads((st.asset_dir("mute", "vocals") / "vocals.json").read_text()) == {"has_audio": False}


def test_export_rttm_and_eval_diarization_cli(tmp_path, sample_film):
    env = {**os.environ, "ANIMPROC_DATA": str(tmp_path / "data"), "DAGSTER_HOME": str(tmp_path / "home"),
           "ANIMPROC_CONFIG_DIR": str(tmp_path / "configs")}

    def cli(*args):
        proc = subprocess.run([sys.executable, "-m", "animproc_dagster.cli", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    cli("film", "add", "talk", str(sample_film[0]))
    cli("run", "talk", "--select", "diarization")
    assert cli("export", "rttm", "talk").startswith("SPEAKER talk 1 ")
    reference = sample_film[0].with_suffix(".rttm")
    out = cli("eval", "diarization", "talk", "--reference", str(reference), "--collar", "0.25")
    assert "DER" in out and "missed speech" in out and "confusion" in out and "reference 3, found 3" in out


def test_voice_features_recover_each_voice(sample_film, tmp_path):
    """On the sample film's ground-truth turns: F0 medians near each voice's pitch, speaking rates in the
    voices' order, and the tone estimate states how it was made."""
    import pandas as pd

    from animproc.audio.features import TONE_METHOD, speaker_features
    from animproc.sample.film import BY_NAME

    extract_audio(sample_film[0], tmp_path / "a.wav", tmp_path / "a.flac")
    segments = pd.DataFrame([{"start": s["start"], "end": s["end"], "speaker": s["speaker"], "overlap": False}
                             for s in sample_film[1]["speech"]])
    table = speaker_features(read_mono(tmp_path / "a.wav"), segments).set_index("speaker")
    for name in ("ava", "bo", "cy"):
        assert table.loc[name, "f0_median_hz"] == pytest.approx(BY_NAME[name].voice.f0, rel=0.15)
        assert table.loc[name, "f0_range_semitones"] > 1.0
        assert table.loc[name, "f0_slope_semitones_per_s"] < 0  # the voices' declination
    rates = table["speaking_rate_syllables_per_s"]
    assert rates["bo"] < rates["cy"] and rates["ava"] < rates["cy"]
    assert set(table["tone"]) <= {"calm", "neutral", "animated"}
    assert (table["tone_method"] == TONE_METHOD).all() and "not a trained emotion" in TONE_METHOD
    assert {f"mfcc_{k:02d}_mean" for k in range(13)} <= set(table.columns)


def test_corrupt_packets_become_silence_and_keep_the_timeline(tmp_path, sample_film):
    """Forty garbage AAC packets in the middle: extraction goes on, reports them, and the audio after them
    stays exactly where it was."""
    def remux(out: Path, damaged: range) -> Path:
        with av.open(str(sample_film[0])) as c, av.open(str(out), "w") as o:
            ins = c.streams.audio[0]
            outs = o.add_stream_from_template(ins)
            for i, p in enumerate(c.demux(ins)):
                if p.dts is None:
                    continue
                if i in damaged:
                    bad = av.Packet(np.random.default_rng(i).integers(0, 256, p.size, dtype=np.uint8).tobytes())
                    bad.pts, bad.dts, bad.duration, bad.time_base = p.pts, p.dts, p.duration, p.time_base
                    p = bad
                p.stream = outs
                o.mux(p)
        return out

    clean = extract_audio(remux(tmp_path / "clean.mp4", range(0)), tmp_path / "c.wav", tmp_path / "c.flac")
    broken = extract_audio(remux(tmp_path / "corrupt.mp4", range(300, 340)), tmp_path / "b.wav", tmp_path / "b.flac")
    assert clean.corrupt_packets == 0
    assert broken.corrupt_packets > 0
    assert broken.duration_s == pytest.approx(clean.duration_s, abs=0.05)
    a, b = read_mono(tmp_path / "c.wav"), read_mono(tmp_path / "b.wav")
    after = slice(16000 * 20, 16000 * 30)  # well after the damaged stretch (about 6-7 s)
    assert np.corrcoef(a[after], b[after])[0, 1] > 0.95


def test_diarization_on_the_vocals_stem_when_the_film_config_says_so(tmp_path, sample_film):
    """`audio.diarize_on: vocals` makes the diarizer hear the vocals stem, and says so in the metadata."""
    st = Storage(tmp_path / "data")
    store_source(st, "talk", sample_film[0])
    (tmp_path / "talk.yaml").write_text("audio:\n  diarize_on: vocals\n")
    defs = build_defs(StorageResource(root=str(tmp_path / "data")), FilmConfigResource(config_dir=str(tmp_path)))
    keys = [AssetKey(k) for k in ("source_video", "audio", "vocals", "diarization")]
    with instance_for_test() as instance:
        result = run_film(defs, instance, "talk", asset_selection=keys)
    meta = [e.event_specific_data.materialization.metadata for e in result.get_asset_materialization_events()
            if e.event_specific_data.materialization.asset_key == AssetKey("diarization")][0]
    assert meta["diarized_on"].value == "vocals stem"
    assert (st.asset_dir("talk", "diarization") / "talk.rttm").read_text().startswith("SPEAKER talk 1 ")
