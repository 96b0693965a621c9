"""The identity previews shown in the UI: every cluster and character labelled with its name and size, a legend
entry per cluster on the projection, and sheets that stay small for a 20-cluster film."""
import cv2
import numpy as np
import pandas as pd

from animproc.identity.sheets import (TAG_HEIGHT, character_sheet, cluster_name, medoid_sheet, pose_examples,
                                      pose_sheet)
from animproc.image.preview import CAPTION_HEIGHT, fitted_text, markdown_image
from animproc.image.plots import projection_figure

LONG = "princess_of_the_northern_snowfields"


def _crop(seed: int, shape=(112, 112, 3)) -> np.ndarray:
    """A smooth random picture (compresses like a rendered face or body, unlike pixel noise)."""
    coarse = np.random.default_rng(seed).integers(0, 255, (8, 8, 3), dtype=np.uint8)
    return cv2.resize(coarse, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)


def _cutout(seed: int) -> np.ndarray:
    rgba = np.zeros((160, 70, 4), np.uint8)
    rgba[..., :3] = _crop(seed, (160, 70, 3))
    rgba[20:150, 10:60, 3] = 255
    return rgba


def _has_text(band: np.ndarray) -> bool:
    return bool((band.max(axis=2) > 200).sum() > 10)


def test_medoid_sheet_labels_every_cluster_with_its_name_and_size():
    """20 clusters (more than one row, one with a very long name): all 20 medoids are drawn, each over a caption
    "name (size)" with ink in it, the long name shortened but its size kept."""
    names = {0: LONG, 3: "ava"}
    medoids = [(_crop(k), cluster_name(k, names), 10 + k) for k in range(20)]
    sheet = medoid_sheet(medoids, thumb=80, columns=8)
    assert sheet.captions == [f"{cluster_name(k, names)} ({10 + k})" for k in range(20)]
    assert sheet.captions[3] == "ava (13)" and sheet.captions[5] == "cluster 5 (15)"
    cell_h = 80 + CAPTION_HEIGHT
    assert sheet.image.shape == (3 * cell_h, 8 * 80, 3)
    for k in range(20):
        r, c = divmod(k, 8)
        assert _has_text(sheet.image[r * cell_h + 80:(r + 1) * cell_h, c * 80:(c + 1) * 80]), k
    assert not _has_text(sheet.image[2 * cell_h + 80:, 4 * 80:])  # the empty cells after the 20th
    shown, _ = fitted_text(sheet.captions[0], 76, keep_tail=5)
    assert shown.endswith(".. (10)") and shown.startswith("princ")


def _index(n_characters: int) -> pd.DataFrame:
    rows = []
    for c in range(n_characters):
        name = LONG if c == 0 else f"hero{c}"
        for k in range(c % 4):  # character 0 and every fourth have no instance, only faces
            rows.append({"character": name, "kind": "instance", "id": f"{c}_{k}", "path": f"i/{c}/{k}"})
        for k in range(2 + c):
            rows.append({"character": name, "kind": "face", "id": f"{c}_f{k}", "path": f"f/{c}/{k}"})
    return pd.DataFrame(rows)


def _read(path: str) -> np.ndarray:
    seed = sum(map(ord, path))
    return _cutout(seed) if path.startswith("i/") else _crop(seed)


def test_character_sheet_has_a_row_per_character_with_its_counts_and_faces_for_faceless_rows():
    index = _index(20)
    sheet = character_sheet(index, _read, per_character=6, thumb=56)
    counts = index.groupby(["character", "kind"]).size().unstack(fill_value=0)
    assert len(sheet.captions) == 20
    for name, row in counts.iterrows():
        n, m = int(row.get("instance", 0)), int(row.get("face", 0))
        [caption] = [c for c in sheet.captions if c.startswith(f"{name} (")]
        assert f"{n} instance" in caption and f"{m} faces" in caption
    assert sheet.captions[0].startswith("hero19 (3 instances, 21 faces)")  # the largest first
    row_h = CAPTION_HEIGHT + 56
    assert sheet.image.shape == (20 * row_h, 6 * 56, 3)
    for r, caption in enumerate(sheet.captions):
        assert _has_text(sheet.image[r * row_h:r * row_h + CAPTION_HEIGHT]), r
        thumbs = sheet.image[r * row_h + CAPTION_HEIGHT:(r + 1) * row_h]
        filled = sum(bool(thumbs[:, k * 56:(k + 1) * 56].any()) for k in range(6))
        row = counts.loc[caption.split(" (")[0]]
        assert filled == min(6, int(row.get("instance", 0)) + int(row.get("face", 0))), caption  # faces fill up


def test_pose_sheet_labels_each_character_with_its_bucket_counts_and_tags_the_examples():
    buckets = ["front"] * 5 + ["profile"] * 2 + ["back"]
    images = [_cutout(k) for k in range(len(buckets))]
    sheet = pose_sheet([("ava", buckets, pose_examples(images, buckets, slots=6, thumb=64)),
                        ("bo", ["unknown"], pose_examples(images[:1], ["unknown"], thumb=64))], thumb=64, per_row=10)
    assert sheet.captions == ["ava: front 5, profile 2, back 1 (8)", "bo: unknown 1 (1)"]
    row_h = CAPTION_HEIGHT + 64
    first = sheet.image[CAPTION_HEIGHT:row_h]
    shown = [k for k in range(10) if first[:, k * 64:(k + 1) * 64].any()]
    assert shown == list(range(6))  # every bucket before any twice: 3 fronts, 2 profiles, 1 back
    assert all(_has_text(first[:TAG_HEIGHT, k * 64:(k + 1) * 64]) for k in shown)
    assert [b for _, b in pose_examples(images, buckets, slots=3)] == ["front", "profile", "back"]
    assert _has_text(sheet.image[row_h:row_h + CAPTION_HEIGHT])


def test_projection_legend_has_an_entry_per_cluster_name_and_noise():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(-1, 20), 7)
    xy = rng.normal(size=(len(labels), 2))
    names = {c: cluster_name(c, {2: "ava"}) for c in range(20)}
    fig = projection_figure(xy, labels, names, "UMAP")
    texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert texts == ["noise (7)"] + [f"{names[c]} (7)" for c in range(20)]
    assert "ava (7)" in texts


def test_twenty_cluster_previews_stay_small():
    """The medoid, character and pose sheets of a 20-character film together, as the UI's inline images
    (base64), stay under 400 KB, even with pictures that compress like photographs."""
    medoids = medoid_sheet([(_crop(k), f"hero{k}", 100 + k) for k in range(20)])
    characters = character_sheet(_index(20), _read)
    buckets = ["front", "three_quarter", "profile", "back"] * 5
    poses = pose_sheet([(f"hero{c}", buckets, pose_examples([_cutout(k) for k in range(20)], buckets))
                        for c in range(20)])
    total = sum(len(markdown_image(s.jpeg())) for s in (medoids, characters, poses))
    assert total < 400_000, total
