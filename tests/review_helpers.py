"""Films with review products written the way the assets write them (small ones and ones the size of a 90-minute
film), and headless Chromium on a review server, for review tests and bench/review_pages.py."""
import shutil
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from animproc.image.masks import encode_rle
from animproc.review.server import ReviewServer
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


def fake_identities(root: Path, film: str = "demo", unowned: int = 0, embedded: bool = False) -> tuple[Storage, pd.DataFrame]:
    """Identity clusters as `identity_clusters` writes them: 3 clusters of 4 faces and 2 noise faces, each face
    in its own kept instance; then `unowned` faces of cluster 0 found on interval-sampled frames, which belong
    to no instance (a null instance id, as on every real film). `embedded` writes the faces' embeddings too:
    within a cluster the distance to the medoid (its first face) grows with the face's place, so its last face
    is the outlier."""
    import json

    st = Storage(root)
    rows, instances = [], []
    labels = [0] * 4 + [1] * 4 + [2] * 4 + [-1] * 2 + [0] * unowned
    for k, cluster in enumerate(labels):
        face_id, iid = f"{k:07d}_f00", (f"{k:07d}_00" if k < 14 else None)
        crop = np.full((112, 112, 3), (60 * (cluster + 2)) % 255, np.uint8)
        cv2.putText(crop, str(k), (30, 70), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (255, 255, 255), 3)
        st.write_bytes(st.asset_dir(film, "faces") / "crops" / f"{face_id}.jpg", cv2.imencode(".jpg", crop)[1].tobytes())
        rows.append({"face_id": face_id, "film": film, "frame_index": k, "time": k / 24, "shot_id": 0,
                     "instance_id": iid, "x0": 0.0, "y0": 0.0, "x1": 60.0, "y1": 60.0, "score": 0.9, "size": 20.0,
                     "landmarks": [20, 25, 40, 25, 30 + (k % 3) * 5, 35, 22, 45, 38, 45],
                     "sharpness": 50.0, "excluded": None, "crop_path": f"{film}/faces/crops/{face_id}.jpg",
                     "track_id": k, "cluster": cluster, "probability": 1.0})
        if iid is not None:
            rgba = np.dstack([crop, np.full((112, 112), 255, np.uint8)])
            st.write_bytes(st.asset_dir(film, "instances_inpainted") / "cutouts" / f"{iid}.png",
                           cv2.imencode(".png", rgba)[1].tobytes())
            instances.append({"instance_id": iid, "frame_index": k,
                              "cutout_path": f"{film}/instances_inpainted/cutouts/{iid}.png"})
    faces = pd.DataFrame(rows)
    st.write_parquet(st.asset_dir(film, "identity_clusters") / "faces.parquet", faces)
    st.write_parquet(st.asset_dir(film, "instances_inpainted") / "instances.parquet", pd.DataFrame(instances))
    if embedded:
        vectors = [np.eye(4)[c] + 0.15 * (k % 4) * np.eye(4)[3] if c >= 0 else np.array([0.5, 0.5, 0, 0])
                   for k, c in enumerate(labels)]
        st.write_parquet(st.asset_dir(film, "faces") / "faces.parquet", pd.DataFrame(
            {"face_id": faces["face_id"], "embedding": [v.tolist() for v in vectors]}))
    summary = [{"cluster": c, "size": 4, "medoid_face": f"{4 * c:07d}_f00", "suggested_name": None} for c in range(3)]
    st.write_text(st.asset_dir(film, "identity_clusters") / "clusters.json", json.dumps({"clusters": summary}))
    return st, faces


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@contextmanager
def review_page(storage, film: str, sources, path: str):
    """A review server on a free port and a headless Chromium page open at `path` on it."""
    from playwright.sync_api import sync_playwright

    server = ReviewServer(storage, film, sources)
    server.start()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page()
            page.goto(server.url + path)
            yield page
            browser.close()
    finally:
        server.stop()


def feature_film_reviews(root: Path, film: str = "feature", instances: int = 4000, faces: int = 5000,
                         clusters: int = 20, seed: int = 0) -> Storage:
    """Both review gates at the size of a 90-minute film: `instances` instances (two a frame, ten a shot) and
    `faces` faces in `clusters` clusters of uneven size (the largest about 15 times the smallest) plus 6% noise,
    with embeddings, medoids and tracks of five faces. A few dozen distinct images stand for all, as the pages
    load only the ones on screen."""
    import json

    rng = np.random.default_rng(seed)
    st = Storage(root)
    for k in range(24):
        rgba = np.dstack([np.full((60, 40, 3), 10 * k, np.uint8), np.full((60, 40), 255, np.uint8)])
        st.write_bytes(st.asset_dir(film, "instances") / "cutouts" / f"c{k:02d}.png", cv2.imencode(".png", rgba)[1].tobytes())
        st.write_bytes(st.asset_dir(film, "faces") / "crops" / f"f{k:02d}.jpg",
                       cv2.imencode(".jpg", np.full((112, 112, 3), 10 * k, np.uint8))[1].tobytes())
    st.write_bytes(st.asset_dir(film, "instances") / "overlays" / "o.jpg",
                   cv2.imencode(".jpg", np.zeros((270, 480, 3), np.uint8))[1].tobytes())
    frame = np.arange(instances) // 2
    categories = rng.choice(["character", "object", "background"], instances, p=[0.6, 0.25, 0.15])
    table = pd.DataFrame({
        "instance_id": [f"{f:06d}_{k % 2:02d}" for k, f in enumerate(frame)], "film": film,
        "frame_index": frame * 12, "time": frame * 12 / 24, "shot_id": np.arange(instances) // 10,
        "cutout_path": [f"{film}/instances/cutouts/c{k % 24:02d}.png" for k in range(instances)],
        "overlay_path": f"{film}/instances/overlays/o.jpg", "category": categories,
        "category_score": rng.uniform(0.3, 1.0, instances).round(3), "area": 2400,
        "bbox_x": 40 + np.arange(instances) % 2 * 200, "bbox_y": 60, "bbox_w": 40, "bbox_h": 60,
        "mask_width": 480, "mask_height": 270})
    st.write_parquet(st.asset_dir(film, "instances") / "instances.parquet", table)

    weights = np.linspace(15, 1, clusters)
    sizes = np.floor(weights / weights.sum() * faces * 0.94).astype(int)
    labels = np.concatenate([np.full(n, c) for c, n in enumerate(sizes)] + [np.full(faces - sizes.sum(), -1)])
    centres = rng.normal(size=(clusters, 32))
    vectors = np.where(labels[:, None] >= 0, centres[np.maximum(labels, 0)], 0) + rng.normal(0, 0.35, (faces, 32))
    face_ids = [f"{k:07d}_f00" for k in range(faces)]
    owners = [f"{k // 2:06d}_{k % 2:02d}" if k % 3 and k // 2 < instances // 2 else None for k in range(faces)]
    faces_table = pd.DataFrame({
        "face_id": face_ids, "film": film, "frame_index": np.arange(faces), "time": np.arange(faces) / 24,
        "shot_id": np.arange(faces) // 12, "instance_id": owners, "x0": 10.0, "y0": 10.0, "x1": 50.0, "y1": 50.0,
        "crop_path": [f"{film}/faces/crops/f{k % 24:02d}.jpg" for k in range(faces)],
        "track_id": np.arange(faces) // 5, "cluster": labels, "probability": 1.0})
    st.write_parquet(st.asset_dir(film, "identity_clusters") / "faces.parquet", faces_table)
    st.write_parquet(st.asset_dir(film, "faces") / "faces.parquet",
                     pd.DataFrame({"face_id": face_ids, "embedding": [v.tolist() for v in vectors]}))
    summary = []
    for c in range(clusters):
        idx = np.flatnonzero(labels == c)
        medoid = idx[np.argmin(np.linalg.norm(vectors[idx] - centres[c], axis=1))]
        summary.append({"cluster": c, "size": int(len(idx)), "medoid_face": face_ids[medoid], "suggested_name": None})
    st.write_text(st.asset_dir(film, "identity_clusters") / "clusters.json", json.dumps({"clusters": summary}))
    return st


INSTANCE_KEYS = ["ArrowRight"] * 20 + ["k", "d", "1", "3", "ArrowDown", "ArrowDown", " ", "ArrowRight", " ",
                                       "d", "z", "y", "PageDown", "ArrowRight", "k", "PageUp"] * 2
IDENTITY_KEYS = (["ArrowRight"] * 20 + ["ArrowDown"] * 3 + [" ", "ArrowRight", " ", "ArrowRight", " ", "PageDown",
                 " ", "s", "z", "y", "ArrowUp", "c", "ArrowDown", "c", "m", "z", "y", "ArrowDown", " ", "Delete",
                 "z", "x", "x", "j", "k"]) * 2

MEASURE_KEYS_JS = """(keys) => {
  const times = [];
  for (const key of keys) {
    const t0 = performance.now();
    document.body.dispatchEvent(new KeyboardEvent("keydown", {key, bubbles: true, cancelable: true}));
    document.body.getBoundingClientRect();  // the style and layout the key caused, not only its script
    void document.body.offsetHeight;
    times.push([key, performance.now() - t0]);
  }
  return times;
}"""


def measure_review_page(server_url: str, path: str, ready: str, keys: list[str]) -> dict:
    """Open a review page in headless Chromium: seconds until `ready` shows, then each key's cost in ms
    (script, style and layout: the key is dispatched in the page and layout forced before the clock stops)."""
    import time

    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        started = time.perf_counter()
        page.goto(server_url + path)
        page.wait_for_selector(ready, timeout=60000)
        page.wait_for_function("() => document.getElementById('status').textContent !== 'loading'")
        load = time.perf_counter() - started
        times = page.evaluate(MEASURE_KEYS_JS, keys)
        browser.close()
    per_key = [t for _, t in times]
    return {"load_s": round(load, 3), "keys": len(per_key), "median_ms": round(float(np.median(per_key)), 2),
            "p95_ms": round(float(np.percentile(per_key, 95)), 2), "max_ms": round(max(per_key), 2),
            "slowest": sorted(times, key=lambda kt: -kt[1])[:3]}
