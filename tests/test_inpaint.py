"""Occlusion filling: where a character is hidden, neighbouring frames first, then the inpainter."""
import numpy as np
import pytest
import torch

from animproc.errors import ConfigError, ModelError
from animproc.models import Inpainter
from animproc.instances.inpaint import (LamaInpainter, OpenCVInpainter, fill_occlusion, load_prompts,
                                        occluded_region, occlusion_ratio)

H, W = 240, 320


def _set(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    import cv2

    return cv2.resize(rng.integers(0, 255, (H // 8, W // 8, 3)).astype(np.uint8), (W, H), interpolation=cv2.INTER_CUBIC)


def _character_frame(occluder_x: int, shift: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A striped character (known pixels) with a grey pole in front of it at `occluder_x`; the camera has
    moved `shift` pixels. Returns (image, character mask, pole mask)."""
    bg = np.roll(_set(), shift, axis=1)
    img = bg.copy()
    char = np.zeros((H, W), bool)
    char[60:200, 120 + shift:200 + shift] = True
    stripes = np.zeros((H, W, 3), np.uint8)
    stripes[..., 2] = 200
    stripes[::8, :, 1] = 255
    img[char] = stripes[char]
    pole = np.zeros((H, W), bool)
    pole[:, occluder_x + shift:occluder_x + shift + 30] = True
    img[pole] = (128, 128, 128)
    return img, char & ~pole, pole


def test_occlusion_region_and_ratio_cover_the_hidden_part_of_the_character():
    img, own, pole = _character_frame(150)
    hidden = occluded_region(own, [pole])
    assert hidden.sum() == 140 * 30
    assert occlusion_ratio(own, hidden) == pytest.approx(30 / 80)
    assert occluded_region(own, []).sum() == 0


def test_below_the_threshold_nothing_is_filled():
    img, own, pole = _character_frame(190)  # the pole only grazes the character's edge
    res = fill_occlusion(img, own, [pole], [], OpenCVInpainter(), threshold=0.15)
    assert res.method == "none" and res.image is img


def test_neighbouring_frames_fill_what_the_occluder_hid_there():
    """The pole moved between frames and the camera panned: after homography alignment the neighbours show
    the character's own stripes where the pole stands in this frame."""
    img, own, pole = _character_frame(150)
    neighbours = [_character_frame(60, shift=s)[0] for s in (-6, 4)]
    res = fill_occlusion(img, own, [pole], neighbours, OpenCVInpainter(), threshold=0.15)
    assert res.method.startswith("temporal")
    truth, _, _ = _character_frame(400)  # no pole in view
    hidden = occluded_region(own, [pole])
    err = np.abs(res.image[hidden].astype(int) - truth[hidden].astype(int)).mean()
    assert err < 12
    assert res.alpha_mask[hidden].all()


def test_without_neighbours_the_inpainter_fills_the_hole():
    img, own, pole = _character_frame(150)
    res = fill_occlusion(img, own, [pole], [], OpenCVInpainter(), threshold=0.15)
    hidden = occluded_region(own, [pole])
    assert res.method == "opencv"
    assert np.abs(res.image[hidden].astype(int) - 128).mean() > 30  # the grey pole is gone
    assert np.array_equal(res.image[~hidden], img[~hidden])


class _TinyLama(torch.nn.Module):
    """Same signature as big-lama's TorchScript: (image [1,3,H,W], mask [1,1,H,W]) -> [1,3,H,W] in 0..1."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(4, 3, 3, padding=1)

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.conv(torch.cat([image, mask.float()], 1)))


def test_lama_backend_loads_a_local_torchscript_and_crops_its_padding(tmp_path):
    """LaMa pads inputs to a multiple of 8; the padding is cropped so the output matches the input size."""
    from resources.inpainter import InpainterResource

    path = tmp_path / "big-lama.pt"
    torch.manual_seed(0)
    torch.jit.script(_TinyLama()).save(str(path))
    painter = InpainterResource(backend="lama", lama_model=str(path), device="cpu").model()
    assert isinstance(painter, Inpainter)
    img = _set()[:61, :77]
    mask = np.zeros((61, 77), bool)
    mask[20:40, 30:50] = True
    out = painter(img, mask)
    assert out.shape == img.shape and out.dtype == np.uint8


def _tiny_sd_inpainting_pipeline(folder):
    """A random-weight Stable Diffusion inpainting pipeline built from diffusers' and transformers' own classes
    (tiny UNet with the 9 inpainting input channels, VAE, CLIP text encoder, a byte-level tokenizer), saved as
    a user's pipeline folder is."""
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionInpaintPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    torch.manual_seed(0)
    unet = UNet2DConditionModel(sample_size=16, in_channels=9, out_channels=4, layers_per_block=1,
                                block_out_channels=(32, 64), down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=32,
                                attention_head_dim=8, norm_num_groups=16)
    vae = AutoencoderKL(block_out_channels=(32, 64), in_channels=3, out_channels=3, latent_channels=4,
                        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
                        norm_num_groups=16)
    text = CLIPTextModel(CLIPTextConfig(bos_token_id=0, eos_token_id=1, pad_token_id=1, hidden_size=32,
                                        intermediate_size=37, num_attention_heads=4, num_hidden_layers=2,
                                        vocab_size=600, max_position_embeddings=77))
    chars = list(bytes_to_unicode().values())
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for c in chars + [c + "</w>" for c in chars]:
        vocab.setdefault(c, len(vocab))
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)
    pipe = StableDiffusionInpaintPipeline(vae=vae, text_encoder=text, tokenizer=tokenizer, unet=unet,
                                          scheduler=DDIMScheduler(steps_offset=1), safety_checker=None,
                                          feature_extractor=None, requires_safety_checker=False)
    pipe.save_pretrained(folder)
    return folder


def test_sd_backend_loads_a_local_diffusers_pipeline_and_uses_the_films_prompt(tmp_path):
    """The sd backend loads a pipeline folder offline through the resource, takes the film's prompt file, and
    returns an image of the input's size that changes only where the mask is (the pasted region)."""
    from resources.inpainter import InpainterResource

    model = _tiny_sd_inpainting_pipeline(tmp_path / "sd-inpaint")
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "demo_prompts.json").write_text('{"default": "a 3D animated character"}')
    resource = InpainterResource(backend="sd", sd_model=str(model), sd_steps=2, device="cpu",
                                 prompts_dir=str(tmp_path / "prompts"))
    painter = resource.model()
    assert isinstance(painter, Inpainter)
    assert resource.prompts("demo")["default"] == "a 3D animated character"
    img, own, pole = _character_frame(150)
    res = fill_occlusion(img, own, [pole], [], painter, threshold=0.15, prompt=resource.prompts("demo")["default"])
    hidden = occluded_region(own, [pole])
    assert res.method == "sd" and res.image.shape == img.shape
    assert np.array_equal(res.image[~hidden], img[~hidden]) and not np.array_equal(res.image[hidden], img[hidden])
    with pytest.raises(ModelError, match="not-a-pipeline"):
        InpainterResource(backend="sd", sd_model=str(tmp_path / "not-a-pipeline"), device="cpu").model()


def test_named_characters_get_their_own_prompt_and_others_the_default():
    from animproc.instances.inpaint import prompt_for

    prompts = {"default": "a 3D animated character", "sintel": "a girl with short red hair"}
    assert prompt_for(prompts, "sintel") == "a girl with short red hair"
    assert prompt_for(prompts, "warrior") == "a 3D animated character"
    assert prompt_for(prompts, None) == "a 3D animated character"
    assert prompt_for({}, "sintel") is None


def test_inpainter_errors_name_the_weights(tmp_path):
    from resources.inpainter import InpainterResource

    with pytest.raises(ModelError, match="ANIMPROC_LAMA_MODEL"):
        InpainterResource(backend="lama", lama_model=None).model()
    bad = tmp_path / "lama.pt"
    bad.write_text("nope")
    with pytest.raises(ModelError, match="lama.pt"):
        LamaInpainter(str(bad), "cpu")
    prompts = tmp_path / "film_prompts.json"
    prompts.write_text("{not json")
    with pytest.raises(ConfigError, match="film_prompts.json"):
        load_prompts(prompts)
    prompts.write_text('{"default": "a 3D character", "ava": "a girl with a red cap"}')
    assert load_prompts(prompts)["ava"] == "a girl with a red cap"
