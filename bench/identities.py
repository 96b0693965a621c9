"""Benchmark of the identity stage, in one run.

1. Faces per second (detect + align + embed) of the embedded analyzer (CenterFace + dlib) on CPU, on real
   frames of ../shared/media (the Sintel trailer and snow-fight clip, every 12th frame) and on the labelled
   photos.
2. Clustering time and quality at scale: synthetic identities (8 people, 512-d unit vectors with per-face
   noise and 5% outliers) at 20k and 100k faces: HDBSCAN after PCA to 32 dimensions (what `identity_clusters`
   does), and on the raw 512-d vectors where that finishes in reasonable time (5k), with purity and ARI so the
   reduction's effect on quality is measured, not assumed. UMAP (2-D, cosine) is timed at 5k (the most the
   asset's plot draws), 20k and 100k faces.
3. CG identities on the labelled real clips (bench/cg_identities.py: ARI and coverage before and after).
4. Peak RSS of the process.

Usage: python bench/identities.py [--sizes 20000 100000] [--raw-size 5000]
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import av
import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "media"


def synthetic(n: int, identities: int = 8, dim: int = 512, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(identities, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    n_out = n // 20
    truth = rng.integers(0, identities, n - n_out)
    x = centres[truth] + rng.normal(scale=0.9 / np.sqrt(dim), size=(n - n_out, dim))  # cosine to centre ~0.78
    x = np.vstack([x, rng.normal(size=(n_out, dim))])
    truth = np.concatenate([truth, np.full(n_out, -1)])
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), truth


def clustering_row(n: int, reduce_to: int | None, min_cluster_size: int) -> dict:
    from animproc.identity.cluster import cluster_embeddings
    from animproc.identity.evaluate import identity_scores

    x, truth = synthetic(n)
    started = time.perf_counter()
    result = cluster_embeddings(x, min_cluster_size, reduce_to=reduce_to)
    seconds = time.perf_counter() - started
    real = truth >= 0
    s = identity_scores(result.labels[real].tolist(), truth[real].astype(str).tolist())
    return {"faces": n, "reduction": f"PCA {reduce_to}" if reduce_to else "none (512-d)",
            "seconds": round(seconds, 2), "clusters": s["clusters"], "purity": s["purity"],
            "coverage": s["coverage"], "ari": s["ari"],
            "outliers_left_as_noise": round(float((result.labels[~real] == -1).mean()), 3)}


def umap_row(n: int) -> dict:
    started = time.perf_counter()
    import umap

    imported = time.perf_counter() - started
    x, _ = synthetic(n)
    started = time.perf_counter()
    umap.UMAP(n_neighbors=15, metric="cosine", random_state=0).fit_transform(x)
    return {"umap_faces": n, "import_seconds": round(imported, 2), "seconds": round(time.perf_counter() - started, 2)}


def faces_per_second() -> list[dict]:
    from animproc.identity.faces import EmbeddedFaceAnalyzer

    analyzer = EmbeddedFaceAnalyzer()
    rows = []
    for name, clip in [("sintel trailer", "sintel_trailer/sintel.mp4"), ("snow fight", "sintel_snow_fight/clip_03_sintel.mp4")]:
        frames = []
        with av.open(str(SHARED / clip)) as c:
            frames = [f.to_ndarray(format="bgr24") for i, f in enumerate(c.decode(video=0)) if i % 12 == 0]
        analyzer(frames[0])
        started = time.perf_counter()
        n = sum(len(analyzer(f)) for f in frames)
        seconds = time.perf_counter() - started
        rows.append({"input": f"{name}, {len(frames)} frames {frames[0].shape[1]}x{frames[0].shape[0]}", "faces": n,
                     "frames_per_second": round(len(frames) / seconds, 2), "faces_per_second": round(n / seconds, 2)})
    photos = [cv2.imread(str(p)) for p in sorted((SHARED / "faces_labelled").rglob("*.jp*g"))]
    started = time.perf_counter()
    n = sum(len(analyzer(p)) for p in photos)
    seconds = time.perf_counter() - started
    rows.append({"input": f"labelled photos, {len(photos)} images up to 2333 px", "faces": n,
                 "frames_per_second": round(len(photos) / seconds, 2), "faces_per_second": round(n / seconds, 2)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[20000, 100000])
    parser.add_argument("--raw-size", type=int, default=5000)
    parser.add_argument("--umap-sizes", type=int, nargs="+", default=[5000, 20000, 100000])
    parser.add_argument("--no-cg", action="store_true", help="leave out the labelled clips' CG identity scores")
    args = parser.parse_args()
    report = {"face_analysis": faces_per_second() if SHARED.exists() else "skipped: ../shared/media missing"}
    rows = [clustering_row(args.raw_size, None, 10), clustering_row(args.raw_size, 32, 10)]
    rows += [clustering_row(n, 32, 10) for n in args.sizes]
    report["clustering"] = rows
    report["umap"] = [umap_row(n) for n in args.umap_sizes]
    if SHARED.exists() and not args.no_cg:  # CG identities on the labelled clips (bench/cg_identities.py)
        sys.path.insert(0, str(ROOT / "bench"))
        from cg_identities import report as cg_report

        report["cg_identities"] = cg_report()
    report["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
