"""A film with instances written the way the `instances` asset writes them, for review tests."""
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from animproc.image.masks import encode_rle
from animproc.storage import Storage

CATEGORIES = ["character", "object", "character", "background", "character", "object"]


def fake_instances(root: Path, film: str = "demo", count: int = 12) -> tuple[Storage, pd.DataFrame]:
    st = Storage(root)
    rows = []
    for k in range(count):
        frame = k // 2
        iid = f"{frame:06d}_{k % 2:02d}"
        mask = np.zeros((90, 160), bool)
        mask[10 + k % 2 * 30:40 + k % 2 * 30, 20:60] = True
        rgba = np.dstack([np.full((30, 40, 3), (40 * k) % 255, np.uint8), np.full((30, 40), 255, np.uint8)])
        st.write_bytes(st.asset_dir(film, "instances") / "cutouts" / f"{iid}.png", cv2.imencode(".png", rgba)[1].tobytes())
        st.write_bytes(st.asset_dir(film, "instances") / "overlays" / f"{frame:06d}.jpg",
                       cv2.imencode(".jpg", np.zeros((90, 160, 3), np.uint8))[1].tobytes())
        rows.append({"instance_id": iid, "film": film, "frame_index": frame * 10, "time": frame * 10 / 24,
                     "shot_id": 0, "frame_path": f"{film}/frames_processed/images/{frame:06d}.jpg",
                     "cutout_path": f"{film}/instances/cutouts/{iid}.png",
                     "overlay_path": f"{film}/instances/overlays/{frame:06d}.jpg", "instance_index": k % 2,
                     "bbox_x": 20, "bbox_y": 10, "bbox_w": 40, "bbox_h": 30, "area": 1200,
                     "mask_rle": encode_rle(mask)["counts"], "mask_height": 90, "mask_width": 160,
                     "segment_score": 0.5, "source": "test", "category": CATEGORIES[k % len(CATEGORIES)],
                     "category_score": 0.7, "face_score": 0.0, "evidence": "test"})
    table = pd.DataFrame(rows)
    st.write_parquet(st.asset_dir(film, "instances") / "instances.parquet", table)
    return st, table


def fake_identities(root: Path, film: str = "demo") -> tuple[Storage, pd.DataFrame]:
    """Identity clusters as `identity_clusters` writes them: 3 clusters of 4 faces and 2 noise faces, each face
    in its own kept instance."""
    import json

    st = Storage(root)
    rows, instances = [], []
    labels = [0] * 4 + [1] * 4 + [2] * 4 + [-1] * 2
    for k, cluster in enumerate(labels):
        face_id, iid = f"{k:07d}_f00", f"{k:07d}_00"
        crop = np.full((112, 112, 3), (60 * (cluster + 2)) % 255, np.uint8)
        cv2.putText(crop, str(k), (30, 70), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (255, 255, 255), 3)
        st.write_bytes(st.asset_dir(film, "faces") / "crops" / f"{face_id}.jpg", cv2.imencode(".jpg", crop)[1].tobytes())
        rgba = np.dstack([crop, np.full((112, 112), 255, np.uint8)])
        st.write_bytes(st.asset_dir(film, "instances_inpainted") / "cutouts" / f"{iid}.png",
                       cv2.imencode(".png", rgba)[1].tobytes())
        rows.append({"face_id": face_id, "film": film, "frame_index": k, "time": k / 24, "shot_id": 0,
                     "instance_id": iid, "x0": 0.0, "y0": 0.0, "x1": 60.0, "y1": 60.0, "score": 0.9, "size": 20.0,
                     "landmarks": [20, 25, 40, 25, 30 + (k % 3) * 5, 35, 22, 45, 38, 45],
                     "sharpness": 50.0, "excluded": None, "crop_path": f"{film}/faces/crops/{face_id}.jpg",
                     "track_id": k, "cluster": cluster, "probability": 1.0})
        instances.append({"instance_id": iid, "frame_index": k, "cutout_path": f"{film}/instances_inpainted/cutouts/{iid}.png"})
    faces = pd.DataFrame(rows)
    st.write_parquet(st.asset_dir(film, "identity_clusters") / "faces.parquet", faces)
    st.write_parquet(st.asset_dir(film, "instances_inpainted") / "instances.parquet", pd.DataFrame(instances))
    summary = [{"cluster": c, "size": 4, "medoid_face": f"{4 * c:07d}_f00", "suggested_name": None} for c in range(3)]
    st.write_text(st.asset_dir(film, "identity_clusters") / "clusters.json", json.dumps({"clusters": summary}))
    return st, faces
