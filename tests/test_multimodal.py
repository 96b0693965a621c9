"""Active speakers, character voices and audio-video sync: the sample film's talking mouths and their truth,
the core stages on small generated clips, and the model backends."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from media_helpers import write_video

FPS = 24


def test_sample_truth_has_an_off_screen_turn_and_mouths_open_only_while_their_character_speaks(sample_film):
    _, truth = sample_film
    turns = truth["turns"]
    assert [t["on_screen"] for t in turns].count(False) == 1
    assert [t["start"] for t in turns] == sorted(t["start"] for t in turns)
    speaking = {(t["speaker"], f) for t in turns for f in range(round(t["start"] * FPS), round(t["end"] * FPS) + 1)}
    opened = {(c["name"], f["frame"]) for f in truth["on_screen"] for c in f["characters"] if c["mouth"] > 0}
    assert opened and opened <= speaking
    for t in turns:
        if t["on_screen"]:  # the speaker's mouth moves during its own turn
            frames = truth["on_screen"][round(t["start"] * FPS):round(t["end"] * FPS)]
            mouths = [c["mouth"] for f in frames for c in f["characters"] if c["name"] == t["speaker"]]
            assert len(set(mouths)) >= 3


def _two_faces_clip(path, seconds: float, talking: np.ndarray, size: tuple[int, int] = (640, 360)) -> None:
    """Ava (left) and bo (right), head and shoulders; ava's mouth takes `talking[frame]` (0-3), bo's stays shut
    (drawn at 640x360, scaled to `size`)."""
    import cv2

    from animproc.sample.film import character_sprite

    frames = []
    for i in range(int(seconds * FPS)):
        frame = np.full((360, 640, 3), (90, 120, 150), np.float32)
        for name, left, mouth in (("ava", 60, int(talking[i])), ("bo", 360, 0)):
            img, alpha, _ = character_sprite(name, mouth)
            head = cv2.resize(img[:260], (252, 156)), cv2.resize(alpha[:260], (252, 156))[..., None]
            frame[40:196, left:left + 252] = frame[40:196, left:left + 252] * (1 - head[1]) + head[0] * head[1]
        frame = frame if size == (640, 360) else cv2.resize(frame, size, interpolation=cv2.INTER_LINEAR)
        frames.append(np.clip(frame, 0, 255).astype(np.uint8)[..., ::-1].copy())
    write_video(path, frames, fps=FPS)


@pytest.fixture(scope="module")
def talking_clip(tmp_path_factory):
    """A 4 s clip: ava speaks from 0.5 to 2.5 s (mouth opening and closing at about 4 Hz), then a voice no one
    on screen speaks from 2.9 to 3.9 s."""
    seconds = 4.0
    t = np.arange(int(seconds * FPS)) / FPS
    syllables = (np.sin(2 * np.pi * 4 * t) > -0.2) * (1 + 2 * (np.sin(2 * np.pi * 4 * t) > 0.5))
    talking = np.where((t >= 0.5) & (t < 2.5), syllables, 0)
    path = tmp_path_factory.mktemp("asd") / "two_faces.mp4"
    _two_faces_clip(path, seconds, talking)
    steps = np.arange(40) * 0.1
    loud = np.array([talking[min(int(round(s * FPS)), len(talking) - 1)] / 3 for s in steps], np.float32)
    loud[(steps >= 2.9) & (steps < 3.9)] = 0.7
    segments = pd.DataFrame({"start": [0.5, 2.9], "end": [2.5, 3.9], "speaker": ["speaker_00", "speaker_01"]})
    return path, segments, loud


def test_the_face_whose_mouth_moves_with_the_voice_speaks_and_a_voice_no_mouth_follows_is_off_screen(talking_clip):
    from animproc.image.faces import CenterFaceDetector
    from animproc.multimodal.active_speaker import (EmbeddedActiveSpeaker, StepAudio, find_active_speakers,
                                                     speech_share)

    path, segments, loud = talking_clip
    audio = StepAudio(loud, speech_share(segments, 40), np.zeros((40, 10, 13), np.float32))
    shots = pd.DataFrame({"shot_id": [0], "start_frame": [0], "end_frame": [95]})
    scores, turns = find_active_speakers(path, FPS, 640, 360, shots, segments, audio,
                                         CenterFaceDetector(0.3, 640), EmbeddedActiveSpeaker())
    assert scores["track_id"].nunique() == 2
    left = int(scores.loc[scores["x0"].idxmin(), "track_id"])
    spoken, off = turns.iloc[0], turns.iloc[1]
    assert not spoken["off_screen"] and spoken["best_track"] == left and spoken["margin"] > 0.2
    assert off["off_screen"] and pd.isna(off["best_track"])
    silent = scores[(scores["t"] < 0.4)]
    assert silent["score"].max() == 0.0  # no score outside speech


def _walking_heads_in_a_pan(path, seconds: float, talking: np.ndarray) -> None:
    """The sample's pan shot in small: a textured background panning 1.5 px a frame, ava and bo walking across
    it (2.0 and 1.6 px a frame), faces 22 px tall; ava's mouth takes `talking[frame]`, bo's stays shut."""
    import cv2

    from animproc.sample.film import character_sprite

    rng = np.random.default_rng(3)
    world = cv2.GaussianBlur(rng.uniform(40, 220, (360, 1400, 3)).astype(np.float32), (0, 0), 6)
    frames = []
    for i in range(int(seconds * FPS)):
        frame = cv2.warpAffine(world, np.float32([[1, 0, -1.5 * i], [0, 1, 0]]), (640, 360),
                               borderMode=cv2.BORDER_REFLECT)
        for name, x, mouth in (("ava", 120 + 2.0 * i, int(talking[i])), ("bo", 420 + 1.6 * i, 0)):
            img, alpha, face = character_sprite(name, mouth)
            k = 22 / (face[3] - face[1])
            m = np.float32([[k, 0, x], [0, k, 150 - face[1] * k]])
            a = cv2.warpAffine(alpha, m, (640, 360))[..., None]
            frame = frame * (1 - a) + cv2.warpAffine(img, m, (640, 360)) * a
        frames.append(np.clip(frame, 0, 255).astype(np.uint8)[..., ::-1].copy())
    write_video(path, frames, fps=FPS)


def test_a_small_face_walking_through_a_pan_is_read_as_speaking_and_its_silent_neighbour_is_not(tmp_path):
    from animproc.image.faces import CenterFaceDetector
    from animproc.multimodal.active_speaker import (EmbeddedActiveSpeaker, StepAudio, find_active_speakers,
                                                     speech_share)

    t = np.arange(4 * FPS) / FPS
    syllables = (np.sin(2 * np.pi * 4 * t) > -0.2) * (1 + 2 * (np.sin(2 * np.pi * 4 * t) > 0.5))
    talking = np.where((t >= 0.5) & (t < 2.5), syllables, 0)
    _walking_heads_in_a_pan(tmp_path / "pan.mp4", 4.0, talking)
    loud = np.array([talking[min(round(k * 0.1 * FPS), len(talking) - 1)] / 3 for k in range(40)], np.float32)
    segments = pd.DataFrame({"start": [0.5], "end": [2.5], "speaker": ["speaker_00"]})
    audio = StepAudio(loud, speech_share(segments, 40), np.zeros((40, 10, 13), np.float32))
    shots = pd.DataFrame({"shot_id": [0], "start_frame": [0], "end_frame": [95]})
    scores, turns = find_active_speakers(tmp_path / "pan.mp4", FPS, 640, 360, shots, segments, audio,
                                         CenterFaceDetector(0.3, 640), EmbeddedActiveSpeaker())
    assert scores["track_id"].nunique() == 2  # each walker stays one track
    ava = int(scores.loc[scores["x0"].idxmin(), "track_id"])
    turn = turns.iloc[0]
    # Without undoing the motion the lower face's change drowns in the walk and the pan (margin 0.13).
    assert not turn["off_screen"] and turn["best_track"] == ava and turn["margin"] > 0.3


def test_the_lower_face_change_follows_the_mouth_not_the_motion_of_the_head_or_the_camera():
    import cv2

    from animproc.multimodal.mouth import region_energy
    from animproc.sample.film import character_sprite

    rng = np.random.default_rng(5)
    world = cv2.GaussianBlur(rng.uniform(40, 220, (200, 300, 3)).astype(np.float32), (0, 0), 4)

    def frame(head_x: float, pan: float, mouth: int) -> tuple[np.ndarray, tuple]:
        img, alpha, face = character_sprite("ava", mouth)
        k = 20 / (face[3] - face[1])  # shrunk by area averaging like the sample's, then placed to the sub-pixel
        size = (round(img.shape[1] * k), round(img.shape[0] * k))
        img, alpha = (cv2.resize(v, size, interpolation=cv2.INTER_AREA) for v in (img, alpha))
        m = np.float32([[1, 0, head_x], [0, 1, 60 - face[1] * k]])
        a = cv2.warpAffine(alpha, m, (300, 200))[..., None]
        back = cv2.warpAffine(world, np.float32([[1, 0, -pan], [0, 1, 0]]), (300, 200), borderMode=cv2.BORDER_REFLECT)
        picture = np.clip(back * (1 - a) + cv2.warpAffine(img, m, (300, 200)) * a, 0, 255).astype(np.uint8)
        return picture, (head_x + face[0] * k, 60.0, head_x + face[2] * k, 80.0)

    before, _ = frame(100.0, 0.0, 0)
    moved, box = frame(102.3, 1.4, 0)
    spoken, _ = frame(102.3, 1.4, 3)
    still = np.subtract(*region_energy(moved, before, box))
    assert still < 0.5  # the head moved 2.3 px and the camera 1.4 px: once aligned, no more change below than above
    naive = np.abs(moved.astype(np.float32) - before.astype(np.float32))
    assert naive[int(box[1]):int(box[3]), int(box[0]):int(box[2])].mean() > 5  # the motion the alignment undid
    assert np.subtract(*region_energy(spoken, before, box)) > still + 1.5  # the mouth opened


class _CountingDetector:
    """CenterFace that records the size of every picture it is given."""

    def __init__(self):
        from animproc.image.faces import CenterFaceDetector

        self.detector, self.sizes = CenterFaceDetector(0.3, 1024), []

    def __call__(self, image):
        self.sizes.append(image.shape[:2])
        return self.detector(image)


def test_faces_are_detected_every_few_steps_and_followed_between_so_every_step_is_read(tmp_path, talking_clip):
    from animproc.multimodal.active_speaker import (DETECT_EVERY, EmbeddedActiveSpeaker, StepAudio,
                                                     find_active_speakers, speech_share)

    path, segments, loud = talking_clip
    audio = StepAudio(loud, speech_share(segments, 40), np.zeros((40, 10, 13), np.float32))
    shots = pd.DataFrame({"shot_id": [0], "start_frame": [0], "end_frame": [95]})
    detector = _CountingDetector()
    scores, turns = find_active_speakers(path, FPS, 640, 360, shots, segments, audio, detector,
                                         EmbeddedActiveSpeaker())
    assert len(detector.sizes) <= 40 // DETECT_EVERY + 1
    assert scores["track_id"].nunique() == 2 and (scores.groupby("track_id").size() >= 38).all()
    # A 1280x720 copy is read at the detector's 1024 pixels; the boxes come back in the source's pixels.
    big = tmp_path / "two_faces_720p.mp4"
    t = np.arange(4 * FPS) / FPS
    _two_faces_clip(big, 4.0, np.where((t >= 0.5) & (t < 2.5), 1 + 2 * (np.sin(2 * np.pi * 4 * t) > 0.5), 0),
                    size=(1280, 720))
    detector = _CountingDetector()
    large, _ = find_active_speakers(big, FPS, 1280, 720, shots, segments, audio, detector, EmbeddedActiveSpeaker())
    assert set(detector.sizes) == {(576, 1024)}
    def boxes(table: pd.DataFrame) -> np.ndarray:  # each track's median box, left to right
        return table.groupby("track_id")[["x0", "y0", "x1", "y1"]].median().sort_values("x0").to_numpy()
    assert large["track_id"].nunique() == 2 and np.allclose(boxes(large), 2 * boxes(scores), atol=12)


def test_lagged_correlation_finds_a_mouth_that_leads_the_voice_by_two_steps():
    from animproc.multimodal.active_speaker import lagged_correlation

    rng = np.random.default_rng(0)
    mouth = rng.random(80)
    voice = np.roll(mouth, 2)
    assert lagged_correlation(mouth, voice, half_window=10)[20:60].min() > 0.99
    assert lagged_correlation(mouth, voice, half_window=10, max_lag=0)[20:60].mean() < 0.5
    assert (lagged_correlation(np.zeros(80), voice, half_window=10) == 0).all()  # a still mouth correlates with nothing


def test_step_audio_is_loud_where_the_voice_is_and_marks_the_diarized_steps(tmp_path):
    import soundfile as sf

    from animproc.multimodal.active_speaker import audio_steps

    rate = 16000
    t = np.arange(3 * rate) / rate
    wav = np.where((t >= 1) & (t < 2), 0.5 * np.sin(2 * np.pi * 220 * t), 0.001 * np.sin(2 * np.pi * 50 * t))
    sf.write(tmp_path / "v.flac", np.stack([wav, wav], 1), rate)
    segments = pd.DataFrame({"start": [1.0], "end": [2.05], "speaker": ["a"]})
    audio = audio_steps(tmp_path / "v.flac", 30, segments)
    assert audio.loudness[11:19].min() > 0.9 and audio.loudness[:9].max() < 0.05
    assert audio.speech[10:20].min() == 1.0 and audio.speech[20] == pytest.approx(0.5) and audio.speech[:10].max() == 0
    assert audio.mfcc.shape == (30, 10, 13) and np.abs(audio.mfcc[15]).sum() > 0


def test_turns_without_any_face_are_all_off_screen_and_keep_the_contract_columns():
    from animproc.multimodal.active_speaker import TURN_COLUMNS, empty_scores, speech_turns

    segments = pd.DataFrame({"start": [0.0, 2.0], "end": [1.0, 3.0], "speaker": ["a", "b"]})
    turns = speech_turns(segments, empty_scores())
    assert list(turns.columns) == TURN_COLUMNS and turns["off_screen"].all() and turns["best_track"].isna().all()
    assert speech_turns(segments.iloc[:0], empty_scores()).empty


def _random_asd_onnx(path):
    """A random-weight model with Light-ASD's I/O: audio [1, 10T, 13], visual [1, T, 112, 112] -> logits [1, T]."""
    import torch

    class Asd(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.visual = torch.nn.Conv2d(1, 4, 8, stride=8)
            self.audio = torch.nn.Linear(13 * 10, 4)
            self.head = torch.nn.Linear(8, 1)

        def forward(self, audio, visual):
            b, t = visual.shape[:2]
            v = self.visual(visual.reshape(b * t, 1, 112, 112)).mean((2, 3)).reshape(b, t, 4)
            a = self.audio(audio.reshape(b, t, 130))
            return self.head(torch.cat([v, a], -1)).squeeze(-1)

    torch.manual_seed(0)
    torch.onnx.export(Asd().eval(), (torch.zeros(1, 50, 13), torch.zeros(1, 5, 112, 112)), str(path),
                      input_names=["audio", "visual"], output_names=["logits"],
                      dynamic_axes={"audio": {1: "ta"}, "visual": {1: "t"}, "logits": {1: "t"}}, dynamo=False)
    return path


def test_onnx_active_speaker_scores_every_step_of_a_track_through_windows(tmp_path, talking_clip):
    from animproc.image.faces import CenterFaceDetector
    from animproc.models import ActiveSpeakerModel
    from animproc.multimodal.active_speaker import StepAudio, find_active_speakers, speech_share
    from resources.active_speaker import ActiveSpeakerResource

    model = ActiveSpeakerResource(backend="onnx", model_path=str(_random_asd_onnx(tmp_path / "asd.onnx"))).model()
    model.window = 16  # tracks of 40 steps run in three windows
    assert isinstance(model, ActiveSpeakerModel)
    path, segments, loud = talking_clip
    rng = np.random.default_rng(1)
    audio = StepAudio(loud, speech_share(segments, 40), rng.normal(0, 1, (40, 10, 13)).astype(np.float32))
    shots = pd.DataFrame({"shot_id": [0], "start_frame": [0], "end_frame": [95]})
    scores, turns = find_active_speakers(path, FPS, 640, 360, shots, segments, audio,
                                         CenterFaceDetector(0.3, 640), model)
    assert len(scores) >= 70 and scores["score"].between(0, 1).all() and scores["score"].std() > 0
    assert scores["mouth"].isna().all() and len(turns) == 2


def test_onnx_active_speaker_refuses_a_missing_file_and_a_model_with_other_inputs(tmp_path):
    import torch

    from animproc.errors import ModelError
    from resources.active_speaker import ActiveSpeakerResource

    with pytest.raises(ModelError, match="ANIMPROC_ASD_MODEL"):
        ActiveSpeakerResource(backend="onnx", model_path=None).model()
    with pytest.raises(ModelError, match="not found"):
        ActiveSpeakerResource(backend="onnx", model_path=str(tmp_path / "none.onnx")).model()
    other = tmp_path / "other.onnx"
    torch.onnx.export(torch.nn.Linear(4, 1), torch.zeros(1, 4), str(other), dynamo=False)
    with pytest.raises(ModelError, match="other.onnx.*expected inputs"):
        ActiveSpeakerResource(backend="onnx", model_path=str(other)).model()


def test_embedded_active_speaker_reads_the_mouth_with_the_face_mesh():
    from animproc.models import ActiveSpeakerModel
    from resources.active_speaker import ActiveSpeakerResource

    model = ActiveSpeakerResource(backend="embedded").model()
    assert isinstance(model, ActiveSpeakerModel) and model.name == "embedded-facemesh"


def _asd_turns(rows):
    return pd.DataFrame([{"turn_id": k, "start": s, "end": e, "speaker": sp, "best_track": None if c is None else 1,
                          "character": c, "score": sc, "margin": sc, "off_screen": c is None}
                         for k, (s, e, sp, c, sc) in enumerate(rows)])


def test_speakers_map_to_the_character_they_are_seen_speaking_as_and_unseen_ones_stay_unmapped():
    from animproc.multimodal.voices import assign_speakers

    turns = _asd_turns([(0, 2, "s0", "ava", 0.8), (3, 5, "s1", "bo", 0.7), (6, 8, "s0", "ava", 0.6),
                        (9, 10, "s0", "bo", 0.3), (11, 12, "s2", None, 0.0), (13, 15, "s3", "ava", 0.4),
                        (16, 18, "s4", None, 0.7)])
    turns.loc[6, "off_screen"] = False  # s4 speaks on screen, on a track no character is named on
    mapping = assign_speakers(turns).set_index("speaker")
    assert pd.isna(mapping.loc["s4", "character"]) and "no character is named on" in mapping.loc["s4", "reason"]
    assert mapping.loc["s0", "character"] == "ava" and mapping.loc["s1", "character"] == "bo"
    assert 0.5 < mapping.loc["s0", "confidence"] < 1 and mapping.loc["s1", "confidence"] > 0.5
    assert pd.isna(mapping.loc["s2", "character"]) and "never seen speaking" in mapping.loc["s2", "reason"]
    assert pd.isna(mapping.loc["s3", "character"]) and "fit other speakers better" in mapping.loc["s3", "reason"]
    reviewed = assign_speakers(turns, {"s3": "cy", "s0": None}).set_index("speaker")
    assert reviewed.loc["s3", "character"] == "cy" and reviewed.loc["s3", "reason"].startswith("reviewer")
    assert pd.isna(reviewed.loc["s0", "character"]) and reviewed.loc["s0", "confidence"] == 1.0


def test_enrolled_voice_profiles_label_off_screen_turns_of_an_unmapped_voice_that_matches():
    from animproc.multimodal.voices import assign_speakers, label_turns

    turns = _asd_turns([(0, 2, "s0", "ava", 0.8), (3, 5, "s0", None, 0.0), (6, 8, "s1", None, 0.0),
                        (9, 11, "s2", None, 0.0)])
    ava, other = np.array([1.0, 0, 0]), np.array([0, 1.0, 0])
    near = np.array([0.95, 0.3, 0]) / np.linalg.norm([0.95, 0.3, 0])
    labelled, profiles = label_turns(turns, assign_speakers(turns), {0: ava, 1: near, 2: near, 3: other})
    assert list(labelled["source"]) == ["on_screen", "voice_match", "voice_match", "unmapped"]
    assert list(labelled["character"][:3]) == ["ava"] * 3 and pd.isna(labelled["character"][3])
    assert set(profiles) == {"ava"} and labelled["confidence"][1] < labelled["confidence"][0]


def test_beats_of_a_click_track_put_cuts_on_the_beat_and_chance_is_the_share_of_time_near_one(tmp_path):
    import soundfile as sf

    from animproc.multimodal.sync import beats_and_onsets, chance_share, cut_table, onset_envelope

    rate = 22050
    music = np.zeros(12 * rate, np.float32)
    for k in range(24):  # 120 bpm
        start = int(k * 0.5 * rate)
        music[start:start + 800] += np.hanning(800) * np.sin(np.arange(800) * 0.3)
    sf.write(tmp_path / "acc.flac", np.stack([music, music], 1), rate)
    beats, onsets = beats_and_onsets(onset_envelope(tmp_path / "acc.flac", block_seconds=5))
    assert len(beats) >= 16 and np.median(np.diff(beats)) == pytest.approx(0.5, abs=0.03)
    shots = pd.DataFrame({"shot_id": [0, 1, 2, 3], "start_time": [0.0, 3.0, 5.25, 8.0]})
    cuts = cut_table(shots, beats)
    assert list(cuts["shot_index"]) == [1, 2, 3] and list(cuts["on_beat"]) == [True, False, True]
    assert chance_share(beats, 12.0) == pytest.approx(0.4, abs=0.05)
    assert chance_share(np.zeros(0), 12.0) == 0.0


def test_the_tempo_summed_a_block_at_a_time_gives_the_beats_of_librosas_whole_envelope_tracker():
    """The beat tracker's tempo comes from a tempogram summed a minute at a time (a whole film's tempogram does
    not fit in memory); over several blocks, with tempo drift and noise, the beats are librosa's own."""
    import librosa

    from animproc.multimodal.sync import HOP, RATE, beats_and_onsets, mean_tempogram

    rng = np.random.default_rng(3)
    frames = 3 * 2584 + 700  # three blocks and a part
    envelope = rng.random(frames).astype(np.float32) * 0.3
    period = 21.5 + np.linspace(0, 1.5, frames)  # ~120 bpm drifting slower
    envelope[np.flatnonzero(np.diff(np.floor(np.cumsum(1 / period))) > 0)] += 3.0
    beats, _ = beats_and_onsets(envelope)
    _, whole = librosa.beat.beat_track(onset_envelope=envelope, sr=RATE, hop_length=HOP)
    assert len(beats) > 300 and np.allclose(beats, librosa.frames_to_time(whole, sr=RATE, hop_length=HOP))
    assert mean_tempogram(envelope).shape == (int(librosa.time_to_frames(8.0, sr=RATE, hop_length=HOP)), 1)


def test_the_av_offset_is_the_lag_at_which_the_voice_follows_the_speaking_mouth():
    from animproc.multimodal.sync import av_offset

    rng = np.random.default_rng(3)
    mouth = rng.random(120)
    loud = np.roll(mouth, 3)  # the sound comes 0.3 s after the picture
    scores = pd.DataFrame({"track_id": 7, "t": np.arange(120) * 0.1, "mouth": mouth, "loudness": loud})
    turns = pd.DataFrame({"start": [1.0], "end": [11.0], "best_track": [7], "off_screen": [False]})
    offset, confidence = av_offset(scores, turns)
    assert offset == pytest.approx(0.3) and confidence > 0.5
    assert av_offset(scores, turns.assign(off_screen=True)) == (None, 0.0)


def test_visual_events_are_matched_to_sound_effect_onsets_off_the_beat():
    from animproc.multimodal.sync import event_table, visual_events

    effects = pd.DataFrame({"type": ["flash", "fade"], "peak_frame": [48, 96]})
    actions = pd.DataFrame({"start_time": [5.0, 6.0], "action": ["jumping", "standing"]})
    visual = visual_events(effects, actions, 24.0)
    assert list(visual["kind"]) == ["effect:flash", "action:jumping"]
    events = event_table(visual, onsets=np.array([1.0, 2.1, 9.0]), beats=np.array([1.0]))
    rows = {k: o for k, o in zip(events["kind"], events["offset"])}
    assert rows["effect:flash"] == pytest.approx(0.1) and np.isnan(rows["action:jumping"])
    assert list(events["kind"]).count("sound_onset") == 2  # the onset on the beat is music


def _flow_frames(*shots):
    """motion's per-frame flow for consecutive shots, each a list of magnitudes, pairs 4 frames apart at 24 fps."""
    rows, f = [], 0
    for k, values in enumerate(shots):
        f += 4  # a shot's first sampled frame has no pair
        for m in values:
            rows.append({"shot_id": k, "frame_index": f, "time": f / 24, "interval": 4 / 24, "magnitude": m})
            f += 4
    return pd.DataFrame(rows)


def test_a_flow_spike_stands_well_above_its_own_shot_and_steady_motion_or_a_cut_gives_none():
    """A burst over two pairs of a still shot is one spike, at its peak, timed at the middle of the pair; a
    fast pan that wobbles 10 % gives none; going from a fast shot to a still one and back gives none at either
    cut; a shot too short for a level gives none; a burst within a pair of a fade or dissolve is left out."""
    from animproc.multimodal.sync import flow_spikes

    rng = np.random.default_rng(0)
    still = list(0.002 + 0.0005 * rng.random(12))
    burst = still[:5] + [0.05, 0.08] + still[7:]
    pan = list(0.3 + 0.01 * rng.standard_normal(12))
    pan[6] = 0.33
    frames = _flow_frames(burst, pan, still, pan, [0.001, 0.2, 0.001])
    spikes = flow_spikes(frames, 24.0)
    peak = frames[(frames["shot_id"] == 0)].iloc[6]
    assert list(spikes["shot_id"]) == [0] and list(spikes["frame_index"]) == [peak["frame_index"]]
    assert spikes["t"].iloc[0] == pytest.approx(peak["time"] - 2 / 24, abs=1e-4)
    assert spikes["level"].iloc[0] == pytest.approx(np.median(burst), abs=1e-5)
    single = _flow_frames([0.002] * 5 + [0.08] + [0.002] * 6)
    f = int(single["frame_index"].iloc[5])
    assert flow_spikes(single, 24.0, [(f + 3, f + 30)]).empty  # a fade found a frame after the pair ends
    assert list(flow_spikes(single, 24.0, [(f + 8, f + 30)])["frame_index"]) == [f]  # more than a pair away
    assert list(flow_spikes(frames.iloc[:0], 24.0).columns) == ["t", "shot_id", "frame_index", "magnitude", "level"]


def test_an_onset_off_the_beat_is_matched_to_a_flow_spike_with_its_offset_and_counted_per_kind():
    from animproc.multimodal.sync import event_counts, event_table, flow_spikes, visual_events

    spikes = flow_spikes(_flow_frames([0.002] * 5 + [0.08] + [0.002] * 6), 24.0)
    visual = visual_events(None, pd.DataFrame({"start_time": [9.0], "action": ["jumping"]}), 24.0, spikes)
    assert list(visual["kind"]) == ["flow_spike", "action:jumping"]
    spike_t = float(spikes["t"].iloc[0])
    events = event_table(visual, onsets=np.array([spike_t + 0.12, 5.0]), beats=np.array([5.0]))
    by_kind = dict(zip(events["kind"], events["offset"]))
    assert by_kind["flow_spike"] == pytest.approx(0.12) and by_kind["sound_onset"] == pytest.approx(-0.12)
    assert np.isnan(by_kind["action:jumping"])
    assert event_counts(events) == {"action": {"events": 1, "matched": 0}, "flow_spike": {"events": 1, "matched": 1},
                                    "sound_onset": {"events": 1, "matched": 1}}


def test_av_sync_matches_a_sound_effect_to_the_flow_spike_motion_stored(tmp_path):
    """Through the asset: motion's per-frame flow (declared input) gives the spike, the accompaniment's click
    off the beat is matched to it with its offset, and the metadata counts events per kind."""
    import soundfile as sf
    from dagster import instance_for_test, materialize

    from animproc.catalogue import FilmProducts
    from animproc.multimodal.sync import RATE, beats_and_onsets, onset_envelope
    from animproc.storage import Storage
    from animproc_dagster.definitions import build_defs
    from assets.multimodal import av_sync
    from multimodal_helpers import SPIKE_FRAME, fake_film, frame
    from partitions import add_film
    from resources.film_config import FilmConfigResource
    from resources.storage import StorageResource

    fake_film(tmp_path / "data", sync=False)
    st = Storage(tmp_path / "data")
    music = np.zeros(6 * RATE, np.float32)
    for t in [0.5 * k for k in range(12)] + [3.3]:  # 120 bpm and one sound effect between beats
        start = int(t * RATE)
        music[start:start + 800] += np.hanning(800) * np.sin(np.arange(800) * 0.3)
    acc = st.asset_dir("demo", "vocals") / "accompaniment.flac"
    sf.write(acc, np.stack([music, music], 1), RATE)
    beats, onsets = beats_and_onsets(onset_envelope(acc))
    effect = onsets[np.abs(onsets - 3.3) < 0.1]
    assert len(effect) == 1 and np.min(np.abs(beats - effect[0])) > 0.1
    with FilmProducts(st, "demo").publish("active_speakers") as out:
        out.table("scores", frame("active_speakers", [], "scores"))
        out.table("turns", frame("active_speakers", [], "turns"))
        out.json("info", {})
    defs = build_defs(StorageResource(root=str(tmp_path / "data")), FilmConfigResource(config_dir=str(tmp_path)))
    with instance_for_test() as instance:
        add_film(instance, "demo")
        result = materialize([av_sync], partition_key="demo", instance=instance, resources=defs.resources)
    meta = result.asset_materializations_for_node("av_sync")[0].metadata
    events = st.read_parquet(st.asset_dir("demo", "av_sync") / "events.parquet")
    spike_t = (SPIKE_FRAME - 2) / 24
    spike = events[events["kind"] == "flow_spike"]
    assert list(spike["t"]) == [pytest.approx(spike_t, abs=1e-3)]
    assert spike["offset"].iloc[0] == pytest.approx(effect[0] - spike_t, abs=1e-3)
    onset = events[(events["kind"] == "sound_onset") & (np.abs(events["t"] - effect[0]) < 1e-3)]
    assert onset["offset"].iloc[0] == pytest.approx(spike_t - effect[0], abs=1e-3)
    assert meta["flow_spikes"].value == 1 and meta["events_by_kind"].value["flow_spike"] == {"events": 1, "matched": 1}
    assert "motion" in meta["inputs_read"].value


def _identities_with_voices(root):
    """fake_identities plus character_voices and characters as they write them: speaker_00 mapped to ava with
    one clip, speaker_01 unmapped."""
    from animproc.multimodal.voices import clip_path, wav_bytes
    from review_helpers import fake_identities

    st, _ = fake_identities(root)
    voices = st.asset_dir("demo", "character_voices")
    st.write_parquet(voices / "mapping.parquet", pd.DataFrame(
        {"speaker": ["speaker_00", "speaker_01"], "character": ["ava", None], "confidence": [0.8, 0.0],
         "reason": ["speaks on screen as ava", "unmapped: never seen speaking on screen"]}))
    st.write_parquet(voices / "turns.parquet", pd.DataFrame({"turn_id": [0, 1], "speaker": ["speaker_00", "speaker_01"]}))
    st.write_parquet(voices / "clips.parquet", pd.DataFrame({"character": ["ava"], "turn_id": [0], "start": [0.5],
                                                             "end": [2.0], "path": [clip_path("ava", 0)]}))
    st.write_bytes(voices / clip_path("ava", 0), wav_bytes(np.zeros(1600), 16000))
    st.write_parquet(st.asset_dir("demo", "characters") / "index.parquet", pd.DataFrame({"character": ["ava", "bo"]}))
    return st


def _get(url: str):
    import urllib.request

    with urllib.request.urlopen(url, timeout=10) as r:
        return r.status, r.read()


def test_the_identity_page_plays_each_speakers_clips_and_saves_the_reviewers_voice_mapping(tmp_path):
    import json
    import urllib.request

    from animproc.review.labels import load_review
    from animproc.review.server import ReviewServer
    from animproc.review.sources import identities_source

    st = _identities_with_voices(tmp_path / "data")
    server = ReviewServer(st, "demo", identities_source(st, "demo"))
    server.start()
    try:
        base = server.url.rstrip("/")
        _, body = _get(base + "/identities/api/context")
        context = json.loads(body)
        assert context["characters"] == ["ava", "bo"]
        first, second = context["speakers"]
        assert first["character"] == "ava" and [c["path"] for c in first["clips"]] == [
            "character_voices/clips/ava/turn_00000.wav"] and second["clips"] == []
        status, clip = _get(base + "/media/" + first["clips"][0]["path"])
        assert status == 200 and clip.startswith(b"RIFF")
        page = _get(base + "/identities/")[1].decode()
        assert 'id="voices"' in page and "api/context" in page
        decisions = {"faces": {}, "clusters": {}, "voices": {"speaker_01": {"character": "bo"}}}
        request = urllib.request.Request(base + "/identities/api/save", method="POST",
                                         data=json.dumps({"version": 0, "decisions": decisions}).encode(),
                                         headers={"Content-Type": "application/json", "X-Review-Token": server.token})
        with urllib.request.urlopen(request, timeout=10) as r:
            assert r.status == 200
    finally:
        server.stop()
    assert load_review(st, "demo", "identities").decisions["voices"] == {"speaker_01": {"character": "bo"}}


def test_a_voice_decision_must_name_a_character_or_none():
    from animproc.review.labels import FORMAT, ReviewFileError
    from animproc.review.schema import validate_review

    doc = {"format": FORMAT, "film": "f", "kind": "identities", "version": 1, "decisions": {}}
    _, decisions, _ = validate_review({**doc, "decisions": {"voices": {"speaker_00": {"character": None}}}},
                                      "r.json", "f", "identities")
    assert decisions["voices"] == {"speaker_00": {"character": None}}
    assert "voices" not in validate_review(doc, "r.json", "f", "identities")[1]  # no voices: decisions as before
    for bad in [{"speaker_00": {"character": 3}}, {"speaker_00": {"name": "ava"}}, {"speaker_00": "ava"}]:
        with pytest.raises(ReviewFileError, match="r.json"):
            validate_review({**doc, "decisions": {"voices": bad}}, "r.json", "f", "identities")


@pytest.mark.slow
def test_in_the_browser_changing_a_speakers_character_saves_it_into_the_identity_review(tmp_path):
    import time

    from animproc.review.labels import load_review
    from animproc.review.sources import identities_source
    from review_helpers import CHROMIUM, review_page

    if not CHROMIUM:
        pytest.skip("Debian chromium is not installed")
    st = _identities_with_voices(tmp_path / "data")
    with review_page(st, "demo", identities_source(st, "demo"), "/identities/") as page:
        page.wait_for_selector("#voices .voice", timeout=10000)
        rows = page.locator("#voices .voice")
        assert rows.count() == 2 and rows.nth(0).locator("audio").count() == 2  # the speaker's sample + one clip
        assert rows.nth(0).locator("select").input_value() == "ava"
        rows.nth(1).locator("select").select_option("bo")
        for _ in range(50):
            review = load_review(st, "demo", "identities")
            if review and review.decisions.get("voices"):
                break
            time.sleep(0.1)
    assert review.decisions["voices"] == {"speaker_01": {"character": "bo"}}
    assert len(review.decisions["faces"]) == 14  # the faces' decisions are saved beside it, as before


def _upstream_without_audio(root):
    """The products the multimodal assets read, as a film without audio and without faces leaves them."""
    import json as _json

    from animproc.catalogue import PRODUCTS
    from animproc.storage import Storage

    st = Storage(root)
    film = "mute"

    def empty(product, table):
        return pd.DataFrame({n: pd.Series(dtype="float64" if t == "float" else "int64" if t == "int" else
                                          "bool" if t == "bool" else "object")
                             for n, t in PRODUCTS[product].tables[table].columns})
    st.write_text(st.asset_dir(film, "source_video") / "probe.json",
                  _json.dumps({"fps": 24.0, "duration_s": 4.0, "width": 64, "height": 36, "frame_count": 96}))
    st.write_parquet(st.asset_dir(film, "shots") / "shots.parquet", pd.DataFrame(
        {"film": [film, film], "shot_id": [0, 1], "start_frame": [0, 48], "end_frame": [47, 95],
         "start_time": [0.0, 2.0], "end_time": [1.96, 3.96]}))
    st.write_parquet(st.asset_dir(film, "shots") / "transitions.parquet", empty("shots", "transitions"))
    st.write_text(st.asset_dir(film, "audio") / "audio.json", _json.dumps({"has_audio": False}))
    st.write_text(st.asset_dir(film, "vocals") / "vocals.json", _json.dumps({"has_audio": False}))
    st.write_parquet(st.asset_dir(film, "diarization") / "segments.parquet", empty("diarization", "segments"))
    for table in ("tracks", "actions", "frame_flow"):
        st.write_parquet(st.asset_dir(film, "motion") / f"{table}.parquet", empty("motion", table))
    st.write_parquet(st.asset_dir(film, "effects_catalog") / "effects.parquet", empty("effects_catalog", "effects"))
    st.write_parquet(st.asset_dir(film, "shot_structure") / "shot_structure.parquet",
                     empty("shot_structure", "shot_structure"))
    st.write_parquet(st.asset_dir(film, "characters") / "index.parquet", empty("characters", "index"))
    st.write_parquet(st.asset_dir(film, "voice_features") / "voice_features.parquet",
                     pd.DataFrame({"film": pd.Series(dtype="object"), "speaker": pd.Series(dtype="object")}))
    return st, film


def test_a_film_without_audio_or_faces_gets_empty_but_valid_multimodal_products_that_say_why(tmp_path):
    from dagster import instance_for_test, materialize

    from animproc.catalogue import PRODUCTS
    from animproc_dagster.definitions import build_defs
    from assets.multimodal import active_speakers, av_sync, character_voices
    from partitions import add_film
    from resources.film_config import FilmConfigResource
    from resources.storage import StorageResource

    st, film = _upstream_without_audio(tmp_path / "data")
    defs = build_defs(StorageResource(root=str(tmp_path / "data")), FilmConfigResource(config_dir=str(tmp_path)))
    with instance_for_test() as instance:
        add_film(instance, film)
        result = materialize([active_speakers, character_voices, av_sync], partition_key=film, instance=instance,
                             resources=defs.resources)
        assert result.success
        notes = {e.asset_key.to_user_string(): e.materialization.metadata["note"].value
                 for e in result.get_asset_materialization_events()}
    assert notes == {"active_speakers": "the film has no audio", "character_voices": "the film has no audio",
                     "av_sync": "the film has no audio"}
    for product in ("active_speakers", "character_voices", "av_sync"):
        for table, spec in PRODUCTS[product].tables.items():
            frame = st.read_parquet(st.asset_dir(film, product) / spec.file)
            assert spec.names == list(frame.columns)[:len(spec.names)], (product, table)
            assert len(frame) == (1 if table in ("summary", "cuts") else 0), (product, table)
    cuts = st.read_parquet(st.asset_dir(film, "av_sync") / "cuts.parquet")
    assert cuts["nearest_beat_offset"].isna().all() and not cuts["on_beat"].any()  # the cut, with no beat to meet
    summary = st.read_parquet(st.asset_dir(film, "av_sync") / "summary.parquet").iloc[0]
    assert summary["share_on_beat"] == 0 and pd.isna(summary["av_offset_seconds"])
