"""Occlusion filling: where a character is hidden, neighbouring frames first, then the inpainter."""
import numpy as np
import pytest
import torch

from animproc.errors import ConfigError, ModelError
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
    painter = InpainterResource(backend="lama", lama_model=str(path), device="cpu").inpainter()
    img = _set()[:61, :77]
    mask = np.zeros((61, 77), bool)
    mask[20:40, 30:50] = True
    out = painter(img, mask)
    assert out.shape == img.shape and out.dtype == np.uint8


def test_inpainter_errors_name_the_weights(tmp_path):
    from resources.inpainter import InpainterResource

    with pytest.raises(ModelError, match="ANIMPROC_LAMA_MODEL"):
        InpainterResource(backend="lama", lama_model=None).inpainter()
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
