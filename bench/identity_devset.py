"""The labelled development set of CG (and CG beside live action) faces from the real clips in ../shared/media:
faces found by the embedded analyzer on every `step`-th frame, each with its embedding, its head-colour
histogram, its shot (a cut where consecutive sampled frames' colours change abruptly) and its reference label
from `bench/reference/{clip}_faces.json` (named by eye from contact sheets this module writes).

Usage: python bench/identity_devset.py --sheets /tmp/sheets   (contact sheets of every found face, to label)
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "media"
REFERENCE = ROOT / "bench" / "reference"
CACHE = Path("/tmp/animproc_identity_devset")


@dataclass(frozen=True)
class Clip:
    name: str
    path: str
    step: int
    reference: str


CLIPS = [Clip("snow_fight", "sintel_snow_fight/clip_03_sintel.mp4", 3, "snow_fight_faces.json"),
         Clip("sintel_trailer", "sintel_trailer/sintel.mp4", 3, "sintel_trailer_faces.json"),
         Clip("tos_bridge", "tos_bridge/clip_01_tears_of_steel.mp4", 3, "tos_bridge_faces.json"),
         Clip("tos_battle", "tos_battle/tears-of-steel-battle-clip-medium.webm", 4, "tos_battle_faces.json")]


def _cut(a: np.ndarray, b: np.ndarray) -> bool:
    ha, hb = (cv2.calcHist([cv2.cvtColor(x, cv2.COLOR_BGR2HSV)], [0, 1], None, [16, 8], [0, 180, 0, 256])
              for x in (a, b))
    return cv2.compareHist(ha, hb, cv2.HISTCMP_CORREL) < 0.6


def extract(clip: Clip) -> dict:
    """Faces of the clip (cached under /tmp): frame, shot, box, landmarks, size, sharpness, embedding, head
    colour, crop."""
    from animproc.identity.faces import EmbeddedFaceAnalyzer
    from animproc.identity.tracks import head_colour

    cache = CACHE / f"{clip.name}.npz"
    if cache.exists():
        return dict(np.load(cache, allow_pickle=True))
    analyzer = EmbeddedFaceAnalyzer()
    rows, crops, previous, shot = [], [], None, 0
    with av.open(str(SHARED / clip.path)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index % clip.step:
                continue
            image = frame.to_ndarray(format="bgr24")
            if previous is not None and _cut(previous, image):
                shot += 1
            previous = image
            for f in analyzer(image):
                rows.append((index, shot, *f.box, f.size, f.sharpness, f.score))
                crops.append(f.crop)
                rows[-1] = rows[-1] + (f.embedding, head_colour(image, f.box), f.landmarks.reshape(-1))
    table = {"frame": np.array([r[0] for r in rows], int), "shot": np.array([r[1] for r in rows], int),
             "box": np.array([r[2:6] for r in rows], np.float32).reshape(-1, 4),
             "size": np.array([r[6] for r in rows], np.float32), "sharpness": np.array([r[7] for r in rows], np.float32),
             "score": np.array([r[8] for r in rows], np.float32),
             "embedding": np.array([r[9] for r in rows], np.float32),
             "head": np.array([r[10] for r in rows], np.float32),
             "landmarks": np.array([r[11] for r in rows], np.float32).reshape(-1, 10),
             "crop": np.array(crops, np.uint8).reshape(-1, 112, 112, 3)}
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(cache, **table)
    return table


def shot_of_frames(clip: Clip) -> np.ndarray:
    """The shot of every frame (cached), found by the project's default shot detectors (the `shots` asset's),
    so that tracks are linked within the shots the film path would find."""
    from animproc.config import FilmConfig
    from animproc.video.scan import FrameWriter, scan_film

    cache = CACHE / f"{clip.name}_shots.npy"
    if cache.exists():
        return np.load(cache)
    with av.open(str(SHARED / clip.path)) as container:
        fps = float(container.streams.video[0].average_rate)
    writer = FrameWriter(lambda name, data: None)
    try:
        found = scan_film(SHARED / clip.path, FilmConfig(), fps, writer)
    finally:
        writer.close()
    shots = np.zeros(found.frame_count, int)
    for shot in found.shots:
        shots[shot.start_frame:shot.end_frame + 1] = shot.shot_id
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(cache, shots)
    return shots


def head_colours(clip: Clip, faces: dict) -> np.ndarray:
    """Each face's head colour (`animproc.identity.tracks.head_colour`) from its frame, cached apart from the
    faces so that a change of that cue does not re-run the face analysis."""
    from animproc.identity.tracks import head_colour

    cache = CACHE / f"{clip.name}_head.npy"
    if cache.exists():
        return np.load(cache)
    wanted = set(faces["frame"].tolist())
    out = np.zeros((len(faces["frame"]), len(head_colour(np.zeros((4, 4, 3), np.uint8), (0, 0, 4, 4)))), np.float32)
    with av.open(str(SHARED / clip.path)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index in wanted:
                image = frame.to_ndarray(format="bgr24")
                for i in np.nonzero(faces["frame"] == index)[0]:
                    out[i] = head_colour(image, faces["box"][i])
    np.save(cache, out)
    return out


def mesh_geometries(clip: Clip, faces: dict) -> tuple[np.ndarray, np.ndarray]:
    """Each face's mesh geometry and mesh presence (`animproc.identity.geometry.crop_geometry` on its aligned
    crop, as `identity_clusters` computes them), cached apart from the faces."""
    from animproc.identity.geometry import crop_geometry
    from animproc.multimodal.mouth import FaceMesh, mesh_model_path

    cache = CACHE / f"{clip.name}_mesh.npz"
    if cache.exists():
        stored = np.load(cache)
        return stored["geometry"], stored["presence"]
    mesh = FaceMesh(mesh_model_path())
    found = [crop_geometry(mesh, crop) for crop in faces["crop"]]
    geometry = np.array([g for g, _ in found], np.float32).reshape(len(found), -1)
    presence = np.array([p for _, p in found], np.float32)
    np.savez(cache, geometry=geometry, presence=presence)
    return geometry, presence


def labels(clip: Clip, faces: dict) -> np.ndarray:
    """The reference identity of each face (box IoU >= 0.3 with a labelled face of its frame), '' where none."""
    from animproc.image.boxes import box_iou

    path = REFERENCE / clip.reference
    if not path.exists():
        return np.array([""] * len(faces["frame"]), object)
    by_frame: dict[int, list] = {}
    for f in json.loads(path.read_text())["faces"]:
        by_frame.setdefault(int(f["frame"]), []).append(f)
    out = []
    for frame, box in zip(faces["frame"], faces["box"]):
        hits = [(box_iou(box, f["box"]), f["identity"]) for f in by_frame.get(int(frame), [])]
        best = max(hits, default=(0.0, ""))
        out.append(best[1] if best[0] >= 0.3 else "")
    return np.array(out, object)


def write_sheets(folder: Path) -> None:
    """Per clip, numbered contact sheets of its usable faces (index, frame and size under each) to label by eye."""
    from animproc.image.preview import contact_sheet

    folder.mkdir(parents=True, exist_ok=True)
    for clip in CLIPS:
        faces = extract(clip)
        usable = np.nonzero((faces["size"] >= 8) & (faces["sharpness"] >= 8))[0]
        for page in range(0, len(usable), 96):
            idx = usable[page:page + 96]
            sheet = contact_sheet([faces["crop"][i] for i in idx],
                                  [f"{i} f{faces['frame'][i]} s{faces['shot'][i]}" for i in idx], thumb_width=112,
                                  columns=12)
            cv2.imwrite(str(folder / f"{clip.name}_{page // 96:02d}.jpg"), sheet)
        print(clip.name, len(faces["frame"]), "faces", len(usable), "usable", int(faces["shot"].max()) + 1 if len(usable) else 0, "shots")


def write_reference(clip: Clip, spec: str, about: str) -> None:
    """The labels read off the sheets (`spec`: "11-29=sintel,37-50=shaman", face indices of the sheets) as
    the clip's reference file: frame, box (source pixels) and identity of each labelled face (only faces the
    sheets show: usable ones, at least 8 px between the eyes and sharpness 8)."""
    faces = extract(clip)
    rows = []
    for part in spec.split(","):
        span, identity = part.split("=")
        first, _, last = span.partition("-")
        for i in range(int(first), int(last or first) + 1):
            if faces["size"][i] < 8 or faces["sharpness"][i] < 8:  # not on the sheets: not looked at
                continue
            rows.append({"frame": int(faces["frame"][i]), "box": [round(float(v), 1) for v in faces["box"][i]],
                         "identity": identity})
    (REFERENCE / clip.reference).write_text(json.dumps({"about": about, "clip": clip.path, "faces": rows}, indent=1))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sheets", type=Path)
    parser.add_argument("--label", nargs=3, metavar=("CLIP", "SPEC", "ABOUT"))
    args = parser.parse_args()
    if args.label:
        write_reference(next(c for c in CLIPS if c.name == args.label[0]), args.label[1], args.label[2])
    if args.sheets:
        write_sheets(args.sheets)
