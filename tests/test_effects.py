"""Effects catalogue signals on generated frames, acts from scene changes, and the faceless shot scale."""
import cv2
import numpy as np
import pandas as pd
import pytest

from animproc.config import TemporalConfig
from animproc.temporal.effects import ParticleState, camera_effects, catalogue, lighting, particles
from animproc.temporal.structure import figure_scale, group_acts


def _sky(h=360, w=640):
    grad = np.linspace(40, 90, h, dtype=np.float32)[:, None, None] * np.ones((1, w, 3), np.float32)
    return grad.astype(np.uint8)


def _snow(seed, h=360, w=640, n=250):
    img = _sky(h, w)
    rng = np.random.default_rng(seed)
    for x, y in zip(rng.integers(0, w, n), rng.integers(0, h, n)):
        cv2.circle(img, (int(x), int(y)), 1, (235, 235, 240), -1)
    return img


def test_falling_flakes_are_snow_and_a_plain_sky_is_not():
    """Pale isolated dots that move between samples are snow spread over the picture; the same sky without
    them has no particles; a crowd of highlights on one textured object is not snow."""
    state = ParticleState()
    particles(_snow(0), state)
    flakes = particles(_snow(1), state)
    assert flakes["snow"] >= 0.5 and flakes["particle_cover"] >= 0.8 and flakes["sparks"] == 0.0
    state = ParticleState()
    particles(_sky(), state)
    assert particles(_sky(), state)["particles"] == 0
    fur = _sky()
    rng = np.random.default_rng(3)
    fur[100:260, 200:360] = rng.integers(60, 255, (160, 160, 1), dtype=np.uint8)
    state = ParticleState()
    particles(fur, state)
    fur[100:260, 200:360] = rng.integers(60, 255, (160, 160, 1), dtype=np.uint8)
    assert particles(fur, state)["snow"] < 0.3


def test_a_sudden_bright_frame_is_a_flash_and_a_lamp_with_a_halo_glows():
    dark = _sky()
    recent = [lighting(dark, [])["luma"]] * 4
    bright = np.clip(dark.astype(int) + 150, 0, 255).astype(np.uint8)
    assert lighting(bright, recent)["flash"] >= 0.5 and lighting(dark, recent)["flash"] == 0.0
    lamp = dark.copy()
    cv2.circle(lamp, (320, 180), 40, (200, 200, 200), -1)
    lamp = cv2.GaussianBlur(lamp, (0, 0), 12)
    cv2.circle(lamp, (320, 180), 12, (255, 255, 255), -1)
    assert lighting(lamp, [])["glow"] >= 0.5 and lighting(dark, [])["glow"] == 0.0


def test_a_sharp_character_on_a_blurred_background_is_depth_of_field():
    rng = np.random.default_rng(0)
    texture = cv2.resize(rng.integers(0, 255, (90, 160, 3), dtype=np.uint8), (640, 360), interpolation=cv2.INTER_NEAREST)
    img = cv2.GaussianBlur(texture, (0, 0), 6)
    img[80:300, 250:390] = texture[80:300, 250:390]
    assert camera_effects(img, [np.array([250, 80, 390, 300])])["depth_of_field"] >= 0.5
    assert camera_effects(texture, [np.array([250, 80, 390, 300])])["depth_of_field"] < 0.2


def test_catalogue_joins_runs_within_a_shot_and_adds_fades():
    samples = [{"frame_index": 6 * k, "time": k / 4, "shot_id": 0 if k < 6 else 1, "snow": 0.8 if 1 <= k <= 8 else 0.0,
                "flash": 0.9 if k == 3 else 0.0} for k in range(10)]
    transitions = pd.DataFrame({"kind": ["fade_out", "cut"], "first": [100, 200], "last": [120, 200]})
    events = catalogue(samples, transitions, 24.0, 0.5)
    snow = [e for e in events if e["type"] == "snow"]
    assert [(e["start_frame"], e["end_frame"]) for e in snow] == [(6, 30), (36, 48)]
    assert [e["type"] for e in events if e["category"] == "camera"] == ["fade"]
    assert any(e["type"] == "flash" and e["start_frame"] == 18 for e in events)


def test_acts_break_where_palette_pacing_and_loudness_change_together():
    red, blue = np.zeros(128), np.zeros(128)
    red[3], blue[90] = 1.0, 1.0
    nodes = [{"duration_s": 20.0, "shots": [0, 1]} for _ in range(4)] + [{"duration_s": 6.0, "shots": [0, 1, 2]}
                                                                           for _ in range(4)]
    acts = group_acts(nodes, [red] * 4 + [blue] * 4, [-20.0] * 4 + [-8.0] * 4, 3)
    assert acts == [0, 0, 0, 0, 1, 1, 1, 1]
    assert group_acts(nodes[:3], [red] * 3, None, 3) == [0, 0, 0]


def test_faceless_shot_scale_from_the_tallest_figure():
    c = TemporalConfig()
    assert figure_scale([(0.1, 0.9)], c)[0] == "medium_long"
    assert figure_scale([(0.5, 0.8)], c)[0] == "long"
    assert figure_scale([(0.7, 0.75)], c)[0] == "extreme_long"
    assert figure_scale([(0.3, 1.0)], c)[0] == "medium"
    assert figure_scale([], c)[0] == "no_subject"


def _random_clip(folder):
    """A tiny random-weight CLIPModel with a byte-level tokenizer and image processor, saved as a user's model
    folder would be (no hub)."""
    import torch
    from transformers import (CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTextConfig,
                              CLIPTokenizer, CLIPVisionConfig)
    from tokenizers.pre_tokenizers import ByteLevel

    chars = sorted(ByteLevel.alphabet())
    vocab = {t: i for i, t in enumerate(chars + [c + "</w>" for c in chars] + ["<|startoftext|>", "<|endoftext|>"])}
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[])
    processor = CLIPProcessor(image_processor=CLIPImageProcessor(size={"shortest_edge": 32},
                                                                 crop_size={"height": 32, "width": 32}),
                              tokenizer=tokenizer)
    torch.manual_seed(0)
    config = CLIPConfig(text_config=CLIPTextConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=64,
                                                   num_hidden_layers=1, num_attention_heads=2,
                                                   max_position_embeddings=77),
                        vision_config=CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                                       num_attention_heads=2, image_size=32, patch_size=8),
                        projection_dim=16)
    CLIPModel(config).save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def test_clip_confirmation_with_a_random_weight_model_through_the_resource(tmp_path):
    """The zero-shot resource loads a local CLIP folder; every catalogued effect whose peak frame was kept gets
    a confirmation in 0..1, one model call per effect type, with the film's prompt where it sets one."""
    from animproc.temporal.zero_shot import confirm_events
    from animproc.models import ZeroShotConfirmer
    from resources.zero_shot import ZeroShotResource

    assert ZeroShotResource(backend="auto", clip_model=None).model().name == "none"
    confirmer = ZeroShotResource(clip_model=str(_random_clip(tmp_path / "clip"))).model()
    assert isinstance(confirmer, ZeroShotConfirmer)
    calls = []

    def counting(images, prompt):
        calls.append(prompt)
        return confirmer(images, prompt)

    events = [{"type": "snow", "peak_frame": 1}, {"type": "snow", "peak_frame": 2}, {"type": "glow", "peak_frame": 3},
              {"type": "flash", "peak_frame": 99}]
    thumbs = {k: _snow(k, 90, 160) for k in (1, 2, 3)}
    confirm_events(events, thumbs, counting, {"snow": "heavy snowfall"})
    assert [e["confirmation"] is not None for e in events] == [True, True, True, False]
    assert all(0 <= e["confirmation"] <= 1 for e in events[:3])
    assert sorted(calls) == ["a glowing light source with a soft halo", "heavy snowfall"]


def test_tile_statistics_equal_those_of_the_tiles_cut_one_by_one():
    """The focus tiles' spread and sharpness come from band sums; on a picture whose sides the grid does not
    divide they equal each tile's own standard deviation and mean, tile edges where slicing puts them."""
    from animproc.temporal.effects import _tile_stats

    rng = np.random.default_rng(3)
    gray = rng.integers(0, 256, (181, 323)).astype(np.float32)
    values = rng.random((181, 323)).astype(np.float32)
    spread, sharpness = _tile_stats(gray, 6, 8, values)
    h, w = gray.shape
    for ty in range(6):
        for tx in range(8):
            rows, cols = slice(ty * h // 6, (ty + 1) * h // 6), slice(tx * w // 8, (tx + 1) * w // 8)
            assert spread[ty, tx] == pytest.approx(float(gray[rows, cols].astype(np.float64).std()), rel=1e-6)
            assert sharpness[ty, tx] == pytest.approx(float(values[rows, cols].astype(np.float64).mean()), rel=1e-6)
