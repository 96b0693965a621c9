"""Instance segmentation core: masks, the embedded segmenter, categories, the SAM2 backend."""
import cv2
import numpy as np
import pytest
from pycocotools import mask as coco_mask

from animproc.config import FilmConfig
from animproc.errors import ModelError
from animproc.image.faces import Face
from animproc.image.masks import bbox_of, cutout, decode_rle, encode_rle, mask_iou, soft_alpha
from animproc.instances.classify import predict_category
from animproc.instances.extract import extract_instances
from animproc.instances.segment import EmbeddedSegmenter, Proposal, content_box
from animproc.models import Segmenter
from animproc.sample.film import character_sprite


def _scene(letterbox: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A shaded character, sharp, in front of a depth-of-field-blurred textured set; returns (image, truth)."""
    rng = np.random.default_rng(3)
    h, w = 360, 640
    set_ = rng.integers(40, 220, (h // 8, w // 8, 3)).astype(np.uint8)
    image = cv2.GaussianBlur(cv2.resize(set_, (w, h), interpolation=cv2.INTER_CUBIC), (0, 0), 6)
    sprite, alpha, _ = character_sprite("ava", 0)
    sprite = cv2.resize(sprite, (130, 260)).astype(np.float32)
    alpha = cv2.resize(alpha, (130, 260))
    x, y = 260, 90
    region = image[y:y + 260, x:x + 130].astype(np.float32)
    image[y:y + 260, x:x + 130] = (region * (1 - alpha[..., None]) + sprite * alpha[..., None]).astype(np.uint8)
    truth = np.zeros((h, w), bool)
    truth[y:y + 260, x:x + 130] = alpha > 0.5
    if letterbox:
        image[:letterbox] = 0
        image[-letterbox:] = 0
    return image, truth


def test_rle_round_trips_and_matches_pycocotools():
    """Masks are stored as COCO compressed RLE that pycocotools itself decodes to the same pixels."""
    rng = np.random.default_rng(0)
    mask = cv2.GaussianBlur(rng.random((70, 90)).astype(np.float32), (0, 0), 4) > 0.5
    rle = encode_rle(mask)
    assert rle["size"] == [70, 90] and isinstance(rle["counts"], str)
    assert np.array_equal(decode_rle(rle), mask)
    ref = coco_mask.decode({"size": rle["size"], "counts": rle["counts"].encode()})
    assert np.array_equal(ref.astype(bool), mask)
    assert coco_mask.area({"size": rle["size"], "counts": rle["counts"].encode()}) == mask.sum()


def test_soft_alpha_feathers_edges_and_cuts_below_threshold():
    """The cutout's alpha is opaque inside, soft at the edge, and zero wherever it would fall under the
    film's threshold."""
    mask = np.zeros((200, 200), bool)
    mask[50:150, 60:140] = True
    alpha = soft_alpha(mask, 0.15, feather=2.0)
    assert alpha[100, 100] == 1.0
    assert alpha[100, 56] == 0 and 0 < alpha[100, 59] < 1 and alpha[100, 61] == 1
    assert ((alpha > 0) & (alpha < 1)).any()
    assert not ((alpha > 0) & (alpha < 0.15)).any()
    rgba = cutout(np.full((200, 200, 3), 7, np.uint8), alpha, bbox_of(mask))
    assert rgba.shape == (100, 80, 4) and rgba[50, 40, 3] == 255


def test_content_box_ignores_letterbox_bars():
    image, _ = _scene(letterbox=40)
    assert content_box(image) == (0, 40, 640, 320)


def test_embedded_segmenter_finds_a_sharp_character_on_a_blurred_set():
    """Focus and colour distinctness find the character whose face a detector does not see; GrabCut gives a
    mask close to the true silhouette, and it is predicted to be a character."""
    image, truth = _scene(letterbox=30)
    props = EmbeddedSegmenter()(image, [])
    best = max(props, key=lambda p: mask_iou(p.mask, truth))
    assert mask_iou(best.mask, truth) > 0.75
    found = extract_instances(image, props, [], min_area=5000, alpha_threshold=0.15)
    match = max(found, key=lambda i: mask_iou(i.mask, truth))
    assert match.prediction.category == "character"
    assert all(i.area >= 5000 for i in found)


def test_face_seeds_a_body_mask_and_makes_it_a_character():
    """A detected face (here given) seeds GrabCut in a body-shaped box below it; the face inside the mask is
    the strongest evidence for the character category."""
    image, truth = _scene()
    ys, xs = np.nonzero(truth)
    face = Face((290.0, 100.0, 360.0, 175.0), 0.9, ((310, 130), (340, 130), (325, 145), (312, 160), (338, 160)))
    props = EmbeddedSegmenter()(image, [face])
    seeded = [p for p in props if p.source == "face+grabcut"]
    assert seeded and mask_iou(seeded[0].mask, truth) > 0.6
    pred = predict_category(seeded[0].mask, [face], (0, 0, 640, 360), 0.5)
    assert pred.category == "character" and pred.score == pytest.approx(0.95)


def test_masks_that_span_the_picture_are_background():
    ground = np.zeros((360, 640), bool)
    ground[250:] = True
    assert predict_category(ground, [], (0, 0, 640, 360), 0.6).category == "background"
    small = np.zeros((360, 640), bool)
    small[300:330, 100:180] = True
    assert predict_category(small, [], (0, 0, 640, 360), 0.3).category == "object"


def test_instances_below_min_area_are_dropped_and_indices_are_largest_first():
    image = np.zeros((100, 100, 3), np.uint8)
    big, mid, tiny = (np.zeros((100, 100), bool) for _ in range(3))
    big[10:60, 10:60] = True
    mid[70:95, 10:50] = True
    tiny[80:85, 80:85] = True
    found = extract_instances(image, [Proposal(mid, 0.5, "t"), Proposal(tiny, 0.5, "t"), Proposal(big, 0.5, "t")], [],
                              min_area=100, alpha_threshold=0.15)
    assert [i.area for i in found] == [2500, 1000] and [i.index for i in found] == [0, 1]
    rec = found[0].record()
    assert (rec["bbox_x"], rec["bbox_y"], rec["bbox_w"], rec["bbox_h"]) == (10, 10, 50, 50)
    assert np.array_equal(decode_rle({"size": [100, 100], "counts": rec["mask_rle"]}), big)


@pytest.fixture(scope="module")
def sam2_checkpoint(tmp_path_factory):
    """A random-weight SAM2.1 tiny, built from the package's own config and saved as a user's checkpoint is."""
    import torch
    from hydra import initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    if not GlobalHydra.instance().is_initialized():
        initialize_config_module("sam2", version_base=None)
    from sam2.build_sam import build_sam2

    torch.manual_seed(0)
    model = build_sam2("configs/sam2.1/sam2.1_hiera_t.yaml", None, device="cpu")
    path = tmp_path_factory.mktemp("sam2") / "sam2.1_hiera_tiny.pt"
    torch.save({"model": model.state_dict()}, path)
    return path


def test_sam2_backend_loads_a_local_checkpoint_and_generates_masks(sam2_checkpoint):
    """The sam2 backend loads weights from a local file through the resource, exactly as a user's would be,
    and returns frame-sized masks with scores."""
    from resources.segmenter import SegmenterResource

    config = FilmConfig.model_validate({"instances": {"points_per_side": 4, "pred_iou_thresh": 0.0,
                                                      "stability_score_thresh": 0.0}})
    seg = SegmenterResource(backend="sam2", sam2_checkpoint=str(sam2_checkpoint),
                            sam2_config="configs/sam2.1/sam2.1_hiera_t.yaml", device="cpu").model(config)
    assert isinstance(seg, Segmenter)
    image, _ = _scene()
    props = seg(image, [])
    assert props and all(p.mask.shape == (360, 640) and p.mask.dtype == bool and p.source == "sam2" for p in props)


def test_sam2_out_of_memory_halves_the_batch_then_falls_back_to_cpu(sam2_checkpoint, monkeypatch):
    """A CUDA out-of-memory error retries with half the point batch after releasing the cache; at the smallest
    batch the model moves to the CPU."""
    import torch
    from sam2 import automatic_mask_generator as amg

    from animproc.instances.segment import Sam2Segmenter

    seg = Sam2Segmenter("configs/sam2.1/sam2.1_hiera_t.yaml", str(sam2_checkpoint), device="cpu", points_per_side=2,
                        points_per_batch=16, pred_iou_thresh=0.0, stability_score_thresh=0.0, min_points_per_batch=4)
    calls = []
    real = amg.SAM2AutomaticMaskGenerator.generate

    def flaky(self, image):
        calls.append(self.points_per_batch)
        if len([c for c in calls if c != "empty_cache"]) <= 3:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(self, image)

    monkeypatch.setattr(amg.SAM2AutomaticMaskGenerator, "generate", flaky)
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: calls.append("empty_cache"))
    seg(_scene()[0], [])
    batches = [c for c in calls if c != "empty_cache"]
    assert batches == [16, 8, 4, 4] and calls.count("empty_cache") == 3
    assert seg.device == "cpu" and "CPU" in seg.retries[-1]


def test_sam2_backend_errors_name_the_checkpoint(tmp_path):
    from resources.segmenter import SegmenterResource

    with pytest.raises(ModelError, match="ANIMPROC_SAM2_CHECKPOINT"):
        SegmenterResource(backend="sam2", sam2_checkpoint=None).model(FilmConfig())
    bad = tmp_path / "weights.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError, match="weights.pt"):
        SegmenterResource(backend="sam2", sam2_checkpoint=str(bad),
                          sam2_config="configs/sam2.1/sam2.1_hiera_t.yaml", device="cpu").model(FilmConfig())


def test_embedded_segmenter_gives_the_same_instances_whatever_ran_before(sample_film):
    """OpenCV's k-means and GrabCut draw from a process-wide RNG; the segmenter seeds it, so one frame gives
    the same masks however many frames were segmented before (re-materialising is idempotent)."""
    import av
    import cv2

    from animproc.instances.segment import EmbeddedSegmenter

    with av.open(str(sample_film[0])) as c:
        frame = next(f for i, f in enumerate(c.decode(video=0)) if i == 20).to_ndarray(format="bgr24")
    seg = EmbeddedSegmenter()
    first = seg(frame, [])
    cv2.setRNGSeed(12345)
    cv2.kmeans(np.random.default_rng(0).random((200, 3), dtype=np.float32), 4, None,
               (cv2.TERM_CRITERIA_MAX_ITER, 5, 1.0), 1, cv2.KMEANS_RANDOM_CENTERS)
    again = seg(frame, [])
    assert len(first) == len(again) and all((a.mask == b.mask).all() for a, b in zip(first, again))
