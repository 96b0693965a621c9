"""Instance proposals for a frame. One small interface (`Segmenter`: image -> proposals), two backends:
`EmbeddedSegmenter` (no downloaded weights) and `Sam2Segmenter` (SAM2 automatic mask generation)."""
from __future__ import annotations

import warnings
from dataclasses import dataclass
import cv2
import numpy as np

from animproc.image.boxes import figure_box
from animproc.image.faces import Face
from animproc.errors import ModelError
from animproc.image.masks import mask_iou


@dataclass
class Proposal:
    mask: np.ndarray  # bool, frame size
    score: float  # the segmenter's own confidence in the mask, 0..1
    source: str
    face: Face | None = None  # the face that seeded it


def content_box(image_bgr: np.ndarray, black_level: int = 20) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of the picture inside letterbox / pillarbox bars."""
    gray = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY)
    rows = np.nonzero(gray.max(axis=1) > black_level)[0]
    cols = np.nonzero(gray.max(axis=0) > black_level)[0]
    if not len(rows) or not len(cols):
        return 0, 0, image_bgr.shape[1], image_bgr.shape[0]
    return int(cols[0]), int(rows[0]), int(cols[-1] + 1), int(rows[-1] + 1)


def _normalise(x: np.ndarray) -> np.ndarray:
    lo, hi = np.percentile(x, 2), np.percentile(x, 98)
    return np.clip((x - lo) / max(hi - lo, 1e-6), 0, 1).astype(np.float32)


def foreground_map(image_bgr: np.ndarray) -> np.ndarray:
    """0..1 likelihood of foreground from two cues that hold across 3D films: focus (characters are kept
    sharp while depth of field blurs the set) and colour distinctness from the frame's top and side borders
    (the set reaches the borders; characters stand on the ground, so the bottom border is not used)."""
    h, w = image_bgr.shape[:2]
    gray = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY).astype(np.float32)
    sigma = max(2.0, 0.015 * max(h, w))
    focus = _normalise(cv2.GaussianBlur(np.abs(cv2.Laplacian(gray, cv2.CV_32F, ksize=3)), (0, 0), sigma))
    lab = cv2.cvtColor(cv2.GaussianBlur(image_bgr, (0, 0), 1.5), cv2.COLOR_BGR2LAB).astype(np.float32)
    b = max(2, int(0.03 * min(h, w)))
    border = np.concatenate([lab[:b].reshape(-1, 3), lab[:, :b].reshape(-1, 3), lab[:, -b:].reshape(-1, 3)])
    k = min(8, len(border))
    _, _, centres = cv2.kmeans(border[:: max(1, len(border) // 4000)], k, None,
                               (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 0.5), 2, cv2.KMEANS_PP_CENTERS)
    flat = lab.reshape(-1, 1, 3)
    dist = np.sqrt(((flat - centres[None]) ** 2).sum(-1)).min(1).reshape(h, w)
    distinct = _normalise(cv2.GaussianBlur(dist, (0, 0), sigma / 2))
    return 0.5 * focus + 0.5 * distinct


def body_box(face: Face, bounds: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    return tuple(int(v) for v in figure_box(face.box, bounds))


class EmbeddedSegmenter:
    """Faces (the face resource's detector) seed GrabCut inside a body-shaped box; foreground regions (focus + colour
    distinctness) seed GrabCut for characters whose face is hidden, turned away or not human. Works at
    `max_side` pixels and returns masks at frame size. Two GrabCut iterations: on bench/instances.py's reference
    frames four gave the same masks' figures at 1.45x the time (the seeds already fix most pixels); one lost
    mean IoU on the faces-only variant. A call keeps no state, so `threads` frames may be cut at once
    (`segment_frames` does): OpenCV releases the GIL, and its RNG, seeded at each call, is per thread."""

    name = "embedded"
    licence = "no learned weights (GrabCut, OpenCV Apache-2.0)"

    def __init__(self, max_side: int = 512, min_area_fraction: float = 0.01, iterations: int = 2,
                 use_faces: bool = True, use_foreground: bool = True, threads: int = 1):
        self.max_side, self.min_area_fraction, self.iterations = max_side, min_area_fraction, iterations
        self.use_faces, self.use_foreground, self.threads = use_faces, use_foreground, threads

    def __call__(self, image_bgr: np.ndarray, faces: list[Face]) -> list[Proposal]:
        # k-means and GrabCut draw from OpenCV's RNG (one per thread): seeded here, a frame gives the same
        # instances whatever ran before it on this thread, and frames cut on several threads do not interleave
        cv2.setRNGSeed(0)
        H, W = image_bgr.shape[:2]
        cx0, cy0, cx1, cy1 = content_box(image_bgr)
        crop = image_bgr[cy0:cy1, cx0:cx1]
        s = min(1.0, self.max_side / max(crop.shape[:2]))
        small = cv2.resize(crop, (max(1, round(crop.shape[1] * s)), max(1, round(crop.shape[0] * s))),
                           interpolation=cv2.INTER_AREA)
        sh, sw = small.shape[:2]
        seeds: list[tuple[np.ndarray, float, str, Face | None]] = []
        for face in faces if self.use_faces else []:
            fx0, fy0, fx1, fy1 = [(v - o) * s for v, o in zip(face.box, (cx0, cy0, cx0, cy0))]
            bx0, by0, bx1, by1 = [(v - o) * s for v, o in zip(body_box(face, (cx0, cy0, cx1, cy1)), (cx0, cy0, cx0, cy0))]
            gc = np.full((sh, sw), cv2.GC_BGD, np.uint8)
            gc[int(by0):int(by1), int(bx0):int(bx1)] = cv2.GC_PR_FGD
            fw = fx1 - fx0
            gc[int(by0):int(fy1), int(bx0):max(int(bx0), int(fx0 - 0.3 * fw))] = cv2.GC_PR_BGD  # beside the head
            gc[int(by0):int(fy1), int(fx1 + 0.3 * fw):int(bx1)] = cv2.GC_PR_BGD
            mx = fw * 0.2
            gc[int(fy0 + 0.2 * (fy1 - fy0)):int(fy1 - 0.1 * (fy1 - fy0)), int(fx0 + mx):int(fx1 - mx)] = cv2.GC_FGD
            seeds.append((gc, face.score, "face+grabcut", face))
        if self.use_foreground:
            seeds += self._foreground_seeds(small)
        proposals = []
        for gc, score, source, face in seeds:
            mask = self._grabcut(small, gc)
            if mask is None:
                continue
            full = np.zeros((H, W), bool)
            up = cv2.resize(mask.astype(np.uint8) * 255, (cx1 - cx0, cy1 - cy0), interpolation=cv2.INTER_LINEAR) > 127
            full[cy0:cy1, cx0:cx1] = up
            if not any(mask_iou(full, p.mask) > 0.6 for p in proposals):
                proposals.append(Proposal(full, score, source, face))
        return proposals

    def _foreground_seeds(self, small: np.ndarray) -> list[tuple[np.ndarray, float, str, Face | None]]:
        sh, sw = small.shape[:2]
        seeds = []
        fg = foreground_map(small)
        u8 = (fg * 255).astype(np.uint8)
        thr, binary = cv2.threshold(cv2.GaussianBlur(u8, (5, 5), 0), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        binary = cv2.morphologyEx(binary, cv2.MORPH_OPEN, np.ones((5, 5), np.uint8))
        n, labels, stats, _ = cv2.connectedComponentsWithStats(binary)
        for k in range(1, n):
            x, y, w, h, area = stats[k]
            if area < self.min_area_fraction * sh * sw or area > 0.7 * sh * sw:
                continue
            comp = labels == k
            pad = int(0.1 * max(w, h))
            gc = np.full((sh, sw), cv2.GC_BGD, np.uint8)
            gc[max(0, y - pad):y + h + pad, max(0, x - pad):x + w + pad] = cv2.GC_PR_BGD
            gc[comp] = cv2.GC_PR_FGD
            core = cv2.erode(comp.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
            gc[core & (fg > thr / 255 + 0.5 * (1 - thr / 255))] = cv2.GC_FGD
            seeds.append((gc, float(fg[comp].mean()), "foreground+grabcut", None))
        return seeds

    def _grabcut(self, small: np.ndarray, gc: np.ndarray) -> np.ndarray | None:
        if not (gc == cv2.GC_FGD).any() and not (gc == cv2.GC_PR_FGD).any():
            return None
        seed = np.isin(gc, (cv2.GC_FGD, cv2.GC_PR_FGD))
        bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
        try:
            cv2.grabCut(small, gc, None, bgd, fgd, self.iterations, cv2.GC_INIT_WITH_MASK)
        except cv2.error:
            return None
        mask = np.isin(gc, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.uint8)
        n, labels, stats, _ = cv2.connectedComponentsWithStats(mask)
        keep = [k for k in range(1, n) if (seed & (labels == k)).any() and stats[k, 4] >= 0.2 * stats[1:, 4].max()]
        if not keep:
            return None
        mask = np.isin(labels, keep).astype(np.uint8)
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
        return _fill_holes(mask.astype(bool))


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    inv = (~mask).astype(np.uint8)
    n, labels = cv2.connectedComponents(inv)
    border = set(np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])))
    holes = np.isin(labels, [k for k in range(1, n) if k not in border])
    return mask | holes


class Sam2Segmenter:
    """SAM2 automatic mask generation from a local checkpoint (`build_sam2` with the package's config name).
    A CUDA out-of-memory error halves the point batch and releases the cache; at the smallest batch the
    model moves to the CPU and stays there."""

    name = "sam2"
    licence = "Apache-2.0 (SAM 2 checkpoints)"

    def __init__(self, config_name: str, checkpoint: str, device: str = "auto", points_per_side: int = 20,
                 points_per_batch: int = 64, pred_iou_thresh: float = 0.8, stability_score_thresh: float = 0.92,
                 crop_n_layers: int = 0, min_points_per_batch: int = 4):
        import torch
        from hydra import initialize_config_module
        from hydra.core.global_hydra import GlobalHydra

        if not GlobalHydra.instance().is_initialized():
            initialize_config_module("sam2", version_base=None)
        from sam2.build_sam import build_sam2

        self.device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.model = build_sam2(config_name, checkpoint, device=self.device)
        except FileNotFoundError as exc:
            raise ModelError(checkpoint, f"SAM2 checkpoint not found ({exc})") from None
        except Exception as exc:  # torch raises several types for a file that is not a checkpoint
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelError(checkpoint, f"not a SAM2 checkpoint for config {config_name} ({first})") from None
        self.settings = dict(points_per_side=points_per_side, pred_iou_thresh=pred_iou_thresh,
                             stability_score_thresh=stability_score_thresh, crop_n_layers=crop_n_layers)
        self.points_per_batch, self.min_points_per_batch = points_per_batch, min_points_per_batch
        self.retries: list[str] = []

    def __call__(self, image_bgr: np.ndarray, faces: list[Face]) -> list[Proposal]:
        import torch
        from sam2.automatic_mask_generator import SAM2AutomaticMaskGenerator

        rgb = np.ascontiguousarray(image_bgr[..., ::-1])
        while True:
            generator = SAM2AutomaticMaskGenerator(self.model, points_per_batch=self.points_per_batch, **self.settings)
            try:
                with torch.inference_mode():
                    records = generator.generate(rgb)
                break
            except torch.cuda.OutOfMemoryError:
                torch.cuda.empty_cache()
                if self.points_per_batch > self.min_points_per_batch:
                    self.points_per_batch //= 2
                    self.retries.append(f"CUDA out of memory: points_per_batch -> {self.points_per_batch}")
                else:
                    self.model, self.device = self.model.to("cpu"), "cpu"
                    self.retries.append("CUDA out of memory at the smallest batch: continuing on the CPU")
        return [Proposal(r["segmentation"].astype(bool), float(r["predicted_iou"]) * float(r["stability_score"]), "sam2")
                for r in records]
