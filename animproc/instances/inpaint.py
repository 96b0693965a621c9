"""Context-aware filling of occluded character parts. The occluded part of a character is where other
instances cover its extent (its mask's convex hull). It is filled first from neighbouring frames of the same
shot, aligned to this frame by a homography fitted on the background, where the occluder has moved away; what
is left goes to an inpainter (`opencv`, `lama` or `sd`). Applied only above the film's occlusion threshold."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from animproc.errors import ConfigError, ModelError
from animproc.image.masks import bbox_of
from animproc.models import Inpainter


class OpenCVInpainter:
    """Telea's fast marching method: no weights; fine for thin or small gaps, smears large ones."""

    name = "opencv"
    licence = "no learned weights (OpenCV Apache-2.0)"

    def __call__(self, image_bgr: np.ndarray, mask: np.ndarray, prompt: str | None = None) -> np.ndarray:
        radius = max(3, int(0.01 * max(image_bgr.shape[:2])))
        return cv2.inpaint(image_bgr, mask.astype(np.uint8) * 255, radius, cv2.INPAINT_TELEA)


class LamaInpainter:
    """LaMa as the TorchScript file simple-lama-inpainting uses (big-lama.pt), from a local path. The model
    works on inputs padded to a multiple of 8; the padding is cropped from its output."""

    name = "lama"
    licence = "Apache-2.0 (LaMa)"

    def __init__(self, checkpoint: str, device: str = "auto"):
        import torch

        self.device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device)
        if not Path(checkpoint).is_file():
            raise ModelError(checkpoint, "LaMa TorchScript checkpoint not found")
        try:
            self.model = torch.jit.load(checkpoint, map_location=self.device).eval()
        except RuntimeError as exc:
            raise ModelError(checkpoint, f"not a TorchScript model ({str(exc).splitlines()[0]})") from None

    def __call__(self, image_bgr: np.ndarray, mask: np.ndarray, prompt: str | None = None) -> np.ndarray:
        import torch
        from simple_lama_inpainting.utils.util import prepare_img_and_mask

        h, w = image_bgr.shape[:2]
        image, m = prepare_img_and_mask(image_bgr[..., ::-1].copy(), mask.astype(np.uint8) * 255, self.device)
        with torch.inference_mode():
            out = self.model(image, m)[0].permute(1, 2, 0).float().cpu().numpy()
        rgb = np.clip(out[:h, :w] * 255, 0, 255).astype(np.uint8)
        return np.ascontiguousarray(rgb[..., ::-1])


class DiffusersInpainter:
    """A diffusers inpainting pipeline (e.g. Stable Diffusion inpainting) from a local folder, prompted with
    the film's per-character prompts."""

    name = "sd"
    licence = "CreativeML OpenRAIL-M (Stable Diffusion inpainting); check the local model card"

    def __init__(self, model_dir: str, device: str = "auto", steps: int = 25):
        import torch

        try:
            from diffusers import AutoPipelineForInpainting
        except ImportError:
            raise ModelError(model_dir, "the sd inpainter needs the diffusers package") from None
        if not Path(model_dir).is_dir():
            raise ModelError(model_dir, "diffusers inpainting model folder not found")
        self.device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
        dtype = torch.float16 if self.device == "cuda" else torch.float32
        try:
            self.pipe = AutoPipelineForInpainting.from_pretrained(model_dir, torch_dtype=dtype, local_files_only=True)
        except (OSError, ValueError, KeyError) as exc:
            raise ModelError(model_dir, f"not a diffusers inpainting pipeline ({str(exc).splitlines()[0]})") from None
        self.pipe.to(self.device)
        self.pipe.set_progress_bar_config(disable=True)
        self.steps = steps

    def __call__(self, image_bgr: np.ndarray, mask: np.ndarray, prompt: str | None = None) -> np.ndarray:
        from PIL import Image

        h, w = image_bgr.shape[:2]
        W, H = max(64, (w + 7) // 8 * 8), max(64, (h + 7) // 8 * 8)
        image = Image.fromarray(cv2.resize(image_bgr, (W, H))[..., ::-1].copy())
        m = Image.fromarray(cv2.resize(mask.astype(np.uint8) * 255, (W, H), interpolation=cv2.INTER_NEAREST))
        out = self.pipe(prompt=prompt or "", image=image, mask_image=m, height=H, width=W,
                        num_inference_steps=self.steps).images[0]
        return cv2.resize(np.asarray(out)[..., ::-1], (w, h), interpolation=cv2.INTER_AREA)


def load_prompts(path: Path) -> dict[str, str]:
    """Per-character prompts for the `sd` inpainter: {"default": "...", "<character>": "..."}."""
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ConfigError(path, [f"not valid JSON ({exc})"]) from None
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise ConfigError(path, ["must be a JSON object mapping character names (or 'default') to prompt strings"])
    return data


def prompt_for(prompts: dict[str, str], character: str | None) -> str | None:
    """The character's own prompt when it has been named and has one, else the film's default."""
    return prompts.get(character) if character and character in prompts else prompts.get("default")


def occluded_region(own: np.ndarray, others: list[np.ndarray]) -> np.ndarray:
    """Pixels inside the character's convex hull that other instances cover."""
    if not others:
        return np.zeros_like(own)
    contours, _ = cv2.findContours(own.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    hull = np.zeros(own.shape, np.uint8)
    if contours:
        cv2.fillPoly(hull, [cv2.convexHull(np.vstack(contours))], 1)
    return hull.astype(bool) & np.logical_or.reduce(others) & ~own


def occlusion_ratio(own: np.ndarray, occluded: np.ndarray) -> float:
    hidden = int(occluded.sum())
    return hidden / max(1, hidden + int(own.sum()))


def _orb_features(gray: np.ndarray, mask: np.ndarray | None = None):
    return cv2.ORB_create(1500).detectAndCompute(gray, mask)


def align_to(reference_bgr: np.ndarray, neighbour_bgr: np.ndarray, background: np.ndarray,
             reference_features=None) -> np.ndarray | None:
    """The neighbour warped onto the reference by a RANSAC homography fitted on ORB features of the
    background (instances masked out); None when the fit is not trustworthy. `reference_features`: the
    reference's ORB keypoints and descriptors on that background when the caller has them already."""
    if reference_features is None:
        reference_features = _orb_features(cv2.cvtColor(reference_bgr, cv2.COLOR_BGR2GRAY),
                                           background.astype(np.uint8) * 255)
    k1, d1 = reference_features
    k2, d2 = _orb_features(cv2.cvtColor(neighbour_bgr, cv2.COLOR_BGR2GRAY))
    if d1 is None or d2 is None or len(k1) < 12 or len(k2) < 12:
        return None
    matches = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True).match(d2, d1)
    if len(matches) < 12:
        return None
    src = np.float32([k2[m.queryIdx].pt for m in matches])
    dst = np.float32([k1[m.trainIdx].pt for m in matches])
    H, inliers = cv2.findHomography(src, dst, cv2.RANSAC, 3.0)
    if H is None or inliers.sum() < max(12, 0.3 * len(matches)):
        return None
    h, w = reference_bgr.shape[:2]
    return cv2.warpPerspective(neighbour_bgr, H, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)


def temporal_fill(image_bgr: np.ndarray, hole: np.ndarray, occluder: np.ndarray, neighbours: list[np.ndarray],
                  background: np.ndarray, min_change: float = 30.0) -> tuple[np.ndarray, np.ndarray]:
    """Fill `hole` from aligned neighbours where the pixel no longer looks like this frame's occluder (the
    occluder moved away); the mean over usable neighbours. Returns (image, mask of pixels still unfilled).
    The votes are kept over the hole's box only (neighbours at frame size, stacked, were hundreds of MB at 1080p)."""
    out, remaining = image_bgr.copy(), hole.copy()
    x, y, w, h = bbox_of(hole)
    if not w:
        return out, remaining
    box = np.s_[y:y + h, x:x + w]
    here, wanted = image_bgr[box].astype(np.int16), hole[box] & occluder[box]
    reference = _orb_features(cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY), background.astype(np.uint8) * 255)
    votes = []
    for nb in neighbours:
        warped = align_to(image_bgr, nb, background, reference)
        if warped is None:
            continue
        warped = warped[box]
        change = np.abs(warped.astype(np.int16) - here).sum(-1)
        votes.append((warped, wanted & (change > min_change) & (warped.sum(-1) > 0)))
    if not votes:
        return out, remaining
    stack = np.stack([w for w, _ in votes]).astype(np.float32)
    use = np.stack([u for _, u in votes])
    counted = use.sum(0)
    filled = counted > 0
    mean = (stack * use[..., None].astype(np.float32)).sum(0) / np.maximum(counted[..., None], 1)
    out[box][filled] = mean[filled].astype(np.uint8)
    remaining[box] &= ~filled
    return out, remaining


@dataclass
class FillResult:
    image: np.ndarray  # BGR, frame size
    alpha_mask: np.ndarray  # the character's mask extended over what was filled
    ratio: float
    method: str  # none | temporal | inpainter name | temporal+name


def fill_occlusion(image_bgr: np.ndarray, own: np.ndarray, others: list[np.ndarray], neighbours: list[np.ndarray],
                   inpainter: Inpainter, threshold: float, prompt: str | None = None,
                   occluded: np.ndarray | None = None) -> FillResult:
    """`occluded`: the character's occluded region when the caller has it already (`occluded_region`)."""
    occluded = occluded_region(own, others) if occluded is None else occluded
    ratio = occlusion_ratio(own, occluded)
    if ratio <= threshold:
        return FillResult(image_bgr, own, ratio, "none")
    occluder = np.logical_or.reduce(others)
    background = ~(own | occluder)
    methods = []
    image, remaining = image_bgr, occluded
    if neighbours:
        image, remaining = temporal_fill(image_bgr, occluded, occluder, neighbours, background)
        if remaining.sum() < occluded.sum():
            methods.append("temporal")
    if remaining.any():
        ys, xs = np.nonzero(occluded | own)
        pad = max(8, int(0.1 * max(np.ptp(xs) + 1, np.ptp(ys) + 1)))
        y0, y1 = max(0, ys.min() - pad), min(image.shape[0], ys.max() + pad + 1)
        x0, x1 = max(0, xs.min() - pad), min(image.shape[1], xs.max() + pad + 1)
        patch = inpainter(image[y0:y1, x0:x1], remaining[y0:y1, x0:x1], prompt)
        image = image.copy()
        region = remaining[y0:y1, x0:x1]
        image[y0:y1, x0:x1][region] = patch[region]
        methods.append(inpainter.name)
    return FillResult(image, own | occluded, ratio, "+".join(methods))
