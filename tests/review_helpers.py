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
