"""The embedded diarizer's method: speaker count from the similarity structure, short distinct voices kept,
HMM resegmentation of turns, and the choice of the vocals stem where music hides speech."""
import numpy as np
import pytest

from animproc.audio.clustering import cluster_speakers, hmm_resegment, speaker_centroids
from animproc.audio.diarize import EmbeddedDiarizer, choose_input
from animproc.audio.evaluate import diarization_error
from animproc.audio.extract import read_mono
from animproc.audio.diarize import parse_rttm
from animproc.sample.film import CHARACTERS
from animproc.sample.voices import speak

DIM = 256


def _voices(k: int, rng: np.random.Generator) -> np.ndarray:
    """k voice directions sharing a recording component, pairwise cosine ~0.5 (as resemblyzer's d-vectors of
    different speakers on one channel)."""
    shared = rng.normal(size=DIM)
    own = rng.normal(size=(k, DIM))
    v = shared / np.linalg.norm(shared) + own / np.linalg.norm(own, axis=1, keepdims=True)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _windows(voice: np.ndarray, n: int, rng: np.random.Generator, noise: float = 0.055) -> np.ndarray:
    """n windows of one voice whose pairwise cosine is ~0.75 (one speaker's windows)."""
    x = voice + rng.normal(scale=noise, size=(n, DIM))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("speakers", [1, 2, 3, 5, 7])
def test_speaker_count_is_read_from_the_similarity_structure(speakers):
    rng = np.random.default_rng(speakers)
    voices = _voices(speakers, rng)
    turns = [(k % speakers, int(rng.integers(20, 40))) for k in range(3 * speakers)]
    emb = np.concatenate([_windows(voices[s], n, rng) for s, n in turns])
    truth = np.concatenate([[s] * n for s, n in turns])
    labels = cluster_speakers(emb)
    assert len(np.unique(labels)) == speakers
    # one label per voice: each found speaker maps to a single true one
    assert all(len(np.unique(truth[labels == k])) == 1 for k in np.unique(labels))


def test_a_short_line_in_a_voice_like_no_other_keeps_its_own_speaker():
    rng = np.random.default_rng(4)
    a, b = _voices(2, rng)
    emb = np.concatenate([_windows(a, 60, rng), _windows(b, 2, rng), _windows(a, 60, rng)])
    assert len(speaker_centroids(emb)) == 2
    labels = cluster_speakers(emb, times=np.arange(len(emb)) * 0.25)
    assert len(set(labels[60:62])) == 1 and labels[60] != labels[0]


def test_a_few_stray_windows_of_the_same_voice_are_absorbed():
    rng = np.random.default_rng(5)
    (a,) = _voices(1, rng)
    emb = np.concatenate([_windows(a, 80, rng), _windows(a, 3, rng, noise=0.075)])
    assert len(np.unique(cluster_speakers(emb))) == 1


def test_resegmentation_keeps_a_turn_through_a_window_that_strays_toward_another_speaker():
    rng = np.random.default_rng(6)
    a, b = _voices(2, rng)
    emb = np.concatenate([_windows(a, 30, rng), _windows(b, 30, rng), _windows(a, 30, rng)])
    stray = 0.45 * a + 0.55 * b
    emb[15] = stray / np.linalg.norm(stray)  # nearer b than a, inside a's turn
    cents = speaker_centroids(emb)
    nearest = np.argmax(emb @ cents.T, axis=1)
    labels = hmm_resegment(emb, cents, np.arange(len(emb)) * 0.25)
    assert nearest[15] != nearest[14]
    assert labels[15] == labels[14] == labels[0] != labels[45]


def test_a_pause_frees_the_next_line_from_the_previous_speaker():
    """Single windows of two voices after long pauses (a film's short lines): without the restart at pauses the
    HMM's stay probability would give a line to the speaker before it."""
    rng = np.random.default_rng(7)
    a, b = _voices(2, rng)
    emb = np.concatenate([_windows(a, 6, rng), _windows(b, 1, rng), _windows(a, 1, rng), _windows(b, 1, rng)])
    times = np.concatenate([13 + np.arange(6) * 0.25, [19.5, 38.0, 43.0]])
    labels = cluster_speakers(emb, times=times)
    assert labels[6] == labels[8] != labels[7] == labels[0]


@pytest.fixture(scope="module")
def talk_and_music():
    """A synthetic voice with silences, and a loud chord that starts with it (the score)."""
    sr = 16000
    voice = np.concatenate([np.concatenate([speak(2.0, CHARACTERS[k % 3].voice, sr, seed=k)[0], np.zeros(sr)])
                            for k in range(4)]).astype(np.float32)
    t = np.arange(len(voice)) / sr
    chord = sum(np.sin(2 * np.pi * f * t + k) for k, f in enumerate((220.0, 277.2, 329.6, 440.0, 554.4)))
    voice_rms = np.sqrt(np.mean(voice[np.abs(voice) > 0.05 * np.abs(voice).max()] ** 2))
    music = (chord / np.sqrt(np.mean(chord ** 2)) * voice_rms * 4).astype(np.float32)
    return voice, music


def test_the_stem_is_chosen_only_where_music_hides_speech_on_the_mixture(talk_and_music):
    voice, music = talk_and_music
    picked, seconds = choose_input(voice + music, voice + 0.01 * music)
    assert picked == "vocals" and seconds["speech_s_vocals"] > seconds["speech_s_mixture"]
    assert choose_input(voice, voice + 0.01 * music)[0] == "mixture"


def test_recordings_of_different_speakers_in_turn_are_told_apart(shared_media):
    """The 2-speaker and 4-speaker recordings back to back: six speakers (the eigengap rule found two), and DER
    far below calling all speech one speaker (78%)."""
    parts, reference, t = [], [], 0.0
    for folder, stem in (("speech_2spk", "sample"), ("speech_4spk", "diarizationExample")):
        wav = read_mono(shared_media / folder / f"{stem}.wav")
        wav = wav / np.sqrt(np.mean(wav ** 2)) * 0.05
        reference += [(a + t, b + t, f"{folder}_{s}") for a, b, s in
                      parse_rttm((shared_media / folder / f"{stem}.rttm").read_text())]
        parts += [wav, np.zeros(8000, np.float32)]
        t += len(wav) / 16000 + 0.5
    segments = EmbeddedDiarizer()(np.concatenate(parts).astype(np.float32))
    result = diarization_error(reference, [(s.start, s.end, s.speaker) for s in segments])
    assert 5 <= len({s.speaker for s in segments}) <= 7
    assert result["der"] <= 0.2, result
