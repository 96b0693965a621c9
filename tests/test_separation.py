"""Dialogue separation: streaming, the embedded separator, and the Demucs backend from a local file."""
import numpy as np
import pytest

from animproc.audio.evaluate import si_sdr
from animproc.audio.extract import extract_audio
from animproc.audio.separate import EmbeddedSeparator, StemWriter, read_chunks, separate_file
from animproc.errors import ModelError
from animproc.models import Separator
from animproc.sample.film import CHARACTERS
from animproc.sample.voices import speak
from resources.separator import SeparatorResource

RATE = 44100


def _write(path, stereo, rate=RATE):
    w = StemWriter(path, rate)
    w.write(stereo.astype(np.float32), 0, 0)
    w.close()
    return path


def _read(path):
    return np.concatenate([c[:, lead:] for c, _, lead in read_chunks(path, 1000, 0)], axis=1)


class _Half:
    name = "half"

    def vocals(self, stereo, rate):
        return stereo * 0.5


def _film_like_mix(seconds=12.0, seed=0):
    """A voice in the centre over wide, uncorrelated 'music' (tones and noise that differ left and right)."""
    rng = np.random.default_rng(seed)
    voice = speak(seconds, CHARACTERS[0].voice, RATE, seed)[0].astype(np.float32)
    t = np.arange(len(voice)) / RATE
    music = np.stack([0.1 * np.sin(2 * np.pi * f * t + p) for f, p in ((220, 0), (330, 1))])
    music += rng.normal(0, 0.05, music.shape)
    music *= np.sqrt((voice ** 2).mean() / (music ** 2).mean())
    return np.stack([voice, voice]) + music, voice


def test_chunked_stems_reconstruct_the_mixture_exactly(tmp_path):
    """Across chunk boundaries (with cross-fades) vocals + accompaniment = mixture, and lengths match."""
    rng = np.random.default_rng(1)
    mix = rng.uniform(-0.5, 0.5, (2, RATE * 7)).astype(np.float32)
    _write(tmp_path / "mix.flac", mix)
    separate_file(_Half(), tmp_path / "mix.flac", tmp_path / "v.flac", tmp_path / "a.flac",
                  chunk_seconds=2.0, overlap_seconds=0.5)
    v, a = _read(tmp_path / "v.flac"), _read(tmp_path / "a.flac")
    assert v.shape == a.shape == mix.shape
    np.testing.assert_allclose(v, mix * 0.5, atol=2e-4)
    np.testing.assert_allclose(v + a, mix, atol=2e-4)


def test_embedded_separator_recovers_centred_dialogue(tmp_path):
    mix, voice = _film_like_mix()
    _write(tmp_path / "mix.flac", mix)
    separate_file(EmbeddedSeparator(), tmp_path / "mix.flac", tmp_path / "v.flac", tmp_path / "a.flac", chunk_seconds=5)
    est = _read(tmp_path / "v.flac").mean(0)
    assert si_sdr(est, voice) - si_sdr(mix.mean(0), voice) >= 5.0  # measured 5.8 dB


def test_mono_input_gives_identical_channels():
    mix, _ = _film_like_mix(6.0)
    mono = mix.mean(0)
    out = EmbeddedSeparator().vocals(np.stack([mono, mono]), RATE)
    assert out.shape == (2, len(mono)) and np.allclose(out[0], out[1])


def _stereo(path):
    import av

    r = av.AudioResampler(format="fltp", layout="stereo", rate=RATE)
    with av.open(str(path)) as c:
        return np.concatenate([g.to_ndarray() for f in c.decode(audio=0) for g in r.resample(f)], axis=1)


def _real_pair(shared_media, tmp_path):
    extract_audio(shared_media / "bbb_720p_30s" / "big_buck_bunny_0_30.webm", tmp_path / "m.wav", tmp_path / "m.flac")
    speech, music = _stereo(shared_media / "speech_2spk" / "sample.wav"), _stereo(tmp_path / "m.flac")
    n = min(speech.shape[1], music.shape[1])
    return speech[:, :n], music[:, :n] * np.sqrt((speech[:, :n] ** 2).mean() / (music[:, :n] ** 2).mean())


def test_mono_real_mixture_uses_two_stage_hpss(shared_media, tmp_path):
    """Without a stereo cue, two-stage HPSS still lifts real speech out of real music (measured +3.7 dB)."""
    speech, music = _real_pair(shared_media, tmp_path)
    mono, ref = (speech + music).mean(0), speech.mean(0)
    out = EmbeddedSeparator().vocals(np.stack([mono, mono]), RATE)[0]
    assert si_sdr(out, ref) - si_sdr(mono, ref) >= 3.0


def test_real_speech_over_real_music(shared_media, tmp_path):
    """The labelled speech, centred, over Big Buck Bunny's stereo score at equal loudness: the vocals stem
    improves SI-SDR by at least 6 dB (the issue's target; measured +6.1 dB through the chunked writer)."""
    speech, music = _real_pair(shared_media, tmp_path)
    mix = speech + music
    _write(tmp_path / "mix.flac", mix)
    separate_file(EmbeddedSeparator(), tmp_path / "mix.flac", tmp_path / "v.flac", tmp_path / "a.flac")
    ref = speech.mean(0)
    improvement = si_sdr(_read(tmp_path / "v.flac").mean(0), ref) - si_sdr(mix.mean(0), ref)
    print(f"SI-SDR improvement {improvement:.2f} dB")
    assert improvement >= 6.0


def test_demucs_backend_loads_a_local_checkpoint(tmp_path):
    """A random-weight HTDemucs built from the package's own class, saved as demucs saves models, loads
    through the resource exactly as a user's htdemucs checkpoint would, and separates a file."""
    import torch
    from demucs.htdemucs import HTDemucs
    from demucs.states import serialize_model
    from omegaconf import OmegaConf

    torch.manual_seed(0)
    model = HTDemucs(sources=["drums", "bass", "other", "vocals"], samplerate=RATE, segment=2.0, channels=8, depth=2)
    path = tmp_path / "htdemucs-random.th"
    torch.save(serialize_model(model, OmegaConf.create({}), half=False), path)
    engine = SeparatorResource(backend="demucs", demucs_model=str(path), device="cpu").model()
    assert isinstance(engine, Separator)
    for name, tensor in model.state_dict().items():
        assert torch.equal(engine.model.state_dict()[name], tensor), name
    mix = np.random.default_rng(2).uniform(-0.3, 0.3, (2, int(RATE * 2.5))).astype(np.float32)
    _write(tmp_path / "mix.flac", mix)
    info = separate_file(engine, tmp_path / "mix.flac", tmp_path / "v.flac", tmp_path / "a.flac", chunk_seconds=60)
    assert info["separator"].startswith("demucs (HTDemucs")
    v, a = _read(tmp_path / "v.flac"), _read(tmp_path / "a.flac")
    assert v.shape == mix.shape and np.allclose(v + a, mix, atol=2e-4)


def test_demucs_backend_without_a_checkpoint_says_what_to_set(tmp_path):
    with pytest.raises(ModelError, match="ANIMPROC_DEMUCS_MODEL"):
        SeparatorResource(backend="demucs", demucs_model=None).model()
    junk = tmp_path / "htdemucs.th"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError, match="htdemucs.th: not a Demucs checkpoint"):
        SeparatorResource(backend="demucs", demucs_model=str(junk), device="cpu").model()


def test_eval_separation_cli_prints_si_sdr_and_improvement(tmp_path):
    import os
    import re
    import subprocess
    import sys

    mix, voice = _film_like_mix(6.0)
    _write(tmp_path / "mix.flac", mix)
    _write(tmp_path / "dialogue.flac", np.stack([voice, voice]))
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "home"), "ANIMPROC_DATA": str(tmp_path / "data")}
    proc = subprocess.run([sys.executable, "-m", "animproc_dagster.cli", "eval", "separation", "--mixture",
                           str(tmp_path / "mix.flac"), "--reference", str(tmp_path / "dialogue.flac")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    improvement = float(re.search(r"improvement \(SI-SDRi\)\s+(-?[\d.]+) dB", proc.stdout).group(1))
    assert "SI-SDR of the mixture" in proc.stdout and improvement > 3.0
    missing = subprocess.run([sys.executable, "-m", "animproc_dagster.cli", "eval", "separation", "--mixture",
                              str(tmp_path / "nope.wav"), "--reference", str(tmp_path / "dialogue.flac")],
                             capture_output=True, text=True, env=env, timeout=300)
    assert missing.returncode != 0 and "nope.wav: file does not exist" in missing.stderr
