"""Face-mesh geometry as an identity cue: CG characters of one film share a render style that makes their face
embeddings alike, but not the shape of their faces (a child's short nose and large eyes, an old man's long
jaw). MediaPipe's 468-point face mesh (`animproc.multimodal.mouth.FaceMesh`, the model in the mediapipe
wheel) is fitted to each aligned face crop; the ratios of 3-D distances between landmarks do not change with
the face's size, position or turn, so they describe its shape."""
from __future__ import annotations

import numpy as np

# Eye corners, brows, nose bridge, tip and wings, mouth corners and lips, chin, forehead, jaw and cheekbones.
LANDMARKS = (33, 133, 362, 263, 70, 105, 107, 336, 334, 300, 1, 4, 6, 168, 98, 327, 61, 291, 13, 14, 152, 10,
             234, 454, 172, 397, 58, 288, 50, 280)
# The aligned crop is tight around the face; the mesh expects a margin around it (its presence is highest at
# 1.2-1.4 times the crop on the labelled clips).
CROP_MARGIN = 1.25


def mesh_geometry(points: np.ndarray) -> np.ndarray:
    """Scale-free shape of one mesh (468 x 3 points): the distance between every two `LANDMARKS` over the
    mean of those distances."""
    p = np.asarray(points, np.float64)[list(LANDMARKS)]
    distances = np.linalg.norm(p[:, None] - p[None], axis=-1)[np.triu_indices(len(LANDMARKS), 1)]
    return (distances / max(float(distances.mean()), 1e-12)).astype(np.float32)


def crop_geometry(mesh, crop_bgr: np.ndarray) -> tuple[np.ndarray, float]:
    """The mesh's geometry of an aligned face crop and its face presence (0-1)."""
    h, w = crop_bgr.shape[:2]
    points, presence = mesh.points(crop_bgr, (w / 2, h / 2, max(w, h) * CROP_MARGIN))
    return mesh_geometry(points), presence


def film_geometry(geometry: np.ndarray, presence: np.ndarray, min_presence: float = 0.5) -> np.ndarray:
    """Each face's geometry against the film's: every ratio centred and scaled by its mean and spread over the
    faces the mesh fits (presence >= `min_presence`), then L2-normalised; what every face of the film shares
    says nothing about who it is. Zero rows where the mesh fits no face."""
    g = np.asarray(geometry, np.float32)
    fitted = np.asarray(presence) >= min_presence
    if fitted.sum() < 2:
        return np.zeros_like(g)
    z = (g - g[fitted].mean(0)) / np.maximum(g[fitted].std(0), 1e-6)
    return z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)


def with_geometry(faces: np.ndarray, geometry: np.ndarray | None, presence: np.ndarray | None,
                  weight: float) -> np.ndarray:
    """Face vectors joined with their film geometry (`film_geometry`), each face's share of the geometry
    `weight` times its mesh presence, so that the dot product of two rows mixes face and shape similarity and
    a face the mesh does not fit (a profile, a stylised or tiny face) is compared by its embedding alone."""
    if geometry is None or presence is None or weight <= 0:
        return faces
    share = weight * np.clip(np.asarray(presence, np.float32), 0, 1)[:, None]
    shape = film_geometry(geometry, presence)
    share = np.where(np.linalg.norm(shape, axis=1, keepdims=True) > 0, share, 0.0)
    unit = faces / np.maximum(np.linalg.norm(faces, axis=1, keepdims=True), 1e-12)
    return np.concatenate([np.sqrt(1 - share) * unit, np.sqrt(share) * shape], axis=1).astype(np.float32)
