"""`instances` on several cores: the frames' GrabCuts run on a small thread pool (`animproc.threads.ordered_map`),
in frame order, a bounded window ahead, and give the same products as one thread (generated frames)."""
import hashlib
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from animproc.catalogue import FilmProducts
from animproc.config import FilmConfig
from animproc.image.faces import Face
from animproc.instances.segment import EmbeddedSegmenter, Proposal
from animproc.instances.stages import segment_frames
from animproc.sample.film import character_sprite
from animproc.storage import Storage
from animproc.threads import ThreadsError, ordered_map, thread_count


def test_ordered_map_hands_results_back_in_input_order_with_a_bounded_window():
    """Items finishing out of order come back in order, and the producer is never more than `window` items
    ahead of what was handed back."""
    taken, ahead = [], []

    def items():
        for i in range(12):
            taken.append(i)
            yield i

    def work(i):
        time.sleep(0.002 * (12 - i) + 0.001 * (i % 3))
        return i * i

    out = []
    for value in ordered_map(work, items(), threads=3, window=4):
        ahead.append(len(taken) - len(out))
        out.append(value)
    assert out == [i * i for i in range(12)]
    assert max(ahead) == 4


def test_ordered_map_with_one_thread_runs_inline_and_raises_in_turn():
    """One thread is the plain loop on the caller's thread; with several, an item's error is raised when its
    turn comes, after the results before it."""
    names = list(ordered_map(lambda i: threading.current_thread().name, range(3), threads=1))
    assert names == [threading.current_thread().name] * 3

    def work(i):
        if i == 2:
            raise ValueError("frame 2 is broken")
        return i

    got = []
    with pytest.raises(ValueError, match="frame 2"):
        for value in ordered_map(work, range(6), threads=2):
            got.append(value)
    assert got == [0, 1]


def test_thread_count_is_the_usable_cores_for_auto_and_refuses_bad_values(monkeypatch):
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 3})
    assert thread_count("auto") == 2 and thread_count(None) == 2 and thread_count("3") == 3
    for bad in ("0", "two", "-1", ""):
        with pytest.raises(ThreadsError, match="ANIMPROC_SEGMENTER_THREADS"):
            thread_count(bad, "ANIMPROC_SEGMENTER_THREADS")


def test_segmenter_resource_reads_its_thread_count_from_the_environment(monkeypatch):
    from resources.segmenter import SegmenterResource

    monkeypatch.setenv("ANIMPROC_SEGMENTER_THREADS", "1")
    assert SegmenterResource().model().threads == 1
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1})
    assert SegmenterResource(threads="auto").model().threads == 2
    with pytest.raises(ThreadsError, match="ANIMPROC_SEGMENTER_THREADS"):
        SegmenterResource(threads="many").model()


def _scenes(n: int) -> list[np.ndarray]:
    """Characters at different places on depth-of-field-blurred textured sets; the first pixel carries the
    frame's number."""
    sprite, alpha, _ = character_sprite("ava", 0)
    sprite = cv2.resize(sprite, (110, 220)).astype(np.float32)
    alpha = cv2.resize(alpha, (110, 220))[..., None]
    out = []
    for k in range(n):
        rng = np.random.default_rng(10 + k)
        image = cv2.GaussianBlur(cv2.resize(rng.integers(40, 220, (36, 64, 3)).astype(np.uint8), (512, 288),
                                            interpolation=cv2.INTER_CUBIC), (0, 0), 5)
        x, y = 40 + 90 * k, 40 + 5 * k
        region = image[y:y + 220, x:x + 110].astype(np.float32)
        image[y:y + 220, x:x + 110] = (region * (1 - alpha) + sprite * alpha).astype(np.uint8)
        image[0, 0] = k
        out.append(image)
    return out


class SceneDetector:
    """The character's face on even frames (where CenterFace would find it), none on odd ones; records the
    frames it searched."""

    name, threshold, max_side = "scene", 0.3, 1024

    def __init__(self):
        self.searched: list[int] = []

    def __call__(self, image) -> list[Face]:
        k = int(image[0, 0, 0])
        self.searched.append(k)
        if k % 2:
            return []
        x, y = 40 + 90 * k + 55, 40 + 5 * k + 35
        lm = ((x - 10, y), (x + 10, y), (x, y + 8), (x - 7, y + 16), (x + 7, y + 16))
        return [Face((x - 22, y - 20, x + 22, y + 30), 0.9, lm)]


def _kept_frames(storage: Storage, images: list[np.ndarray]) -> pd.DataFrame:
    paths = []
    for i, image in enumerate(images):
        storage.write_bytes(storage.asset_dir("demo", "frames_processed") / f"images/{i:06d}.png",
                            cv2.imencode(".png", image)[1].tobytes())
        paths.append(f"demo/frames_processed/images/{i:06d}.png")
    n = len(images)
    return pd.DataFrame({"frame_index": range(n), "time": [i / 24 for i in range(n)], "shot_id": [0] * n,
                         "path": paths})


def _published(root: Path, images: list[np.ndarray], segmenter) -> dict[str, str]:
    """sha256 of every file of `instances` that `segment_frames` made with `segmenter`, by path."""
    storage = Storage(root)
    frames = _kept_frames(storage, images)
    products = FilmProducts(storage, "demo")
    with products.publish("instances") as out:
        table, _, _, detections = segment_frames(frames, products, out, segmenter, SceneDetector(),
                                                 FilmConfig(instances={"min_area": 2000}))
        out.table("instances", table)
        out.table("face_detections", detections)
    folder = Path(str(products.folder("instances")))
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_frames_cut_on_two_threads_give_the_products_of_one_thread_every_time(tmp_path):
    """Each frame's GrabCuts draw from OpenCV's RNG of the thread cutting it, seeded per frame: the cutouts,
    overlays and tables are the same files with one thread and with two, run after run, whichever thread
    cuts which frame."""
    images = _scenes(4)
    one = _published(tmp_path / "one", images, EmbeddedSegmenter(threads=1))
    assert sum(name.startswith("cutouts/") for name in one) >= 4 and sum(n.startswith("overlays/") for n in one) == 4
    cv2.setRNGSeed(999)  # the caller's RNG state must not matter either
    assert _published(tmp_path / "two", images, EmbeddedSegmenter(threads=2)) == one
    assert _published(tmp_path / "again", images, EmbeddedSegmenter(threads=2)) == one


class SlowSegmenter:
    """Early frames take longest (they finish out of order on two threads); records how many ran at once."""

    name, threads = "slow", 2

    def __init__(self):
        self.running = self.most = 0
        self.lock = threading.Lock()

    def __call__(self, image, faces):
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(0.004 * (10 - int(image[0, 0, 0])))
        with self.lock:
            self.running -= 1
        mask = np.zeros(image.shape[:2], bool)
        mask[100:250, 200:320] = True
        return [Proposal(mask, 0.5, "slow")]


def test_frames_are_written_in_order_with_detection_a_bounded_window_ahead(tmp_path):
    """Two frames are cut at once, yet every frame's overlay and cutouts are written in frame order, and
    faces are detected at most twice the threads ahead of the frame being written (memory bounded by the
    window, not the film)."""
    storage = Storage(tmp_path)
    images = [np.full((288, 512, 3), 90, np.uint8) for _ in range(10)]
    for k, image in enumerate(images):
        image[0, 0] = k
    frames = _kept_frames(storage, images)
    detector, segmenter = SceneDetector(), SlowSegmenter()
    written: list[tuple[str, int]] = []

    class Writer:
        film = "demo"

        def blob(self, file: str, data: bytes) -> str:
            written.append((file, len(detector.searched)))
            return file

    config = FilmConfig(instances={"min_area": 100})
    table, per_frame, _, detections = segment_frames(frames, FilmProducts(storage, "demo"), Writer(), segmenter,
                                                     detector, config)
    assert segmenter.most == 2
    overlays = [(f, n) for f, n in written if f.startswith("overlays/")]
    assert [f for f, _ in overlays] == [f"overlays/{k:06d}.jpg" for k in range(10)]
    assert all(searched <= k + 1 + 2 * 2 for k, (_, searched) in enumerate(overlays))
    assert list(table["frame_index"]) == list(range(10)) and per_frame == [1] * 10
    assert list(detections["frame_index"]) == list(range(10))
