"""Training sets: captions within CLIP's context, kohya dataset and training configs, the per-character
LoRA subsets, the Qwen2-VL captioner and the diffusers generator with kohya LoRAs (tiny random-weight models),
and the checkpoint choice."""
import json
import tomllib

import cv2
import numpy as np
import pandas as pd
import pytest

from animproc.catalogue import FilmProducts
from animproc.config import FilmConfig, TrainingConfig
from animproc.errors import ModelError
from animproc.models import Captioner, ImageGenerator
from animproc.storage import Storage
from animproc.training.captions import (ApproximateTokenCounter, CaptionFacts, ClipTokenCounter, TemplateCaptioner,
                                        caption, fit_caption, light_and_colour, token_counter, trigger_word)
from animproc.training.evaluation import SCORE_WEIGHTS, choose_best, grid, render_and_score
from animproc.training.generator import DiffusersGenerator, NoGenerator
from animproc.training.kohya import Subset, dataset_toml, repeats, training_toml
from animproc.training.lora_dataset import Candidate, cut_alpha, quality_scores, sharpness, write_lora_dataset
from training_helpers import QWEN_WORDS, clip_tokenizer, kohya_lora, tiny_qwen2vl, tiny_sd_pipeline

# kohya sd-scripts docs/config_README-en.md: options by level
KOHYA_GENERAL_OR_SUBSET = {"caption_extension", "shuffle_caption", "keep_tokens", "flip_aug", "color_aug",
                           "enable_bucket", "alpha_mask"}
KOHYA_DATASET = {"resolution", "batch_size", "enable_bucket", "subsets"}
KOHYA_DREAMBOOTH_SUBSET = {"image_dir", "caption_extension", "num_repeats", "class_tokens", "flip_aug", "color_aug",
                           "alpha_mask", "keep_tokens", "shuffle_caption", "is_reg"}
PREFIX = TrainingConfig().caption_prefix


@pytest.fixture(scope="module")
def clip_counter(tmp_path_factory):
    tok = clip_tokenizer(tmp_path_factory.mktemp("tok"))
    return ClipTokenCounter(tok, "tiny clip")


@pytest.fixture(scope="module")
def tiny_sd(tmp_path_factory):
    root = tmp_path_factory.mktemp("sd")
    base = tiny_sd_pipeline(root / "base")
    return base, [kohya_lora(base, root / "ckpt" / f"step{k}.safetensors", seed=k) for k in (1, 2)]


@pytest.fixture(scope="module")
def generator(tiny_sd):
    return DiffusersGenerator(str(tiny_sd[0]), "cpu")


def test_captions_keep_prefix_and_trigger_and_are_cut_only_between_words(clip_counter):
    body = ", ".join(["front view facing the camera", "soft contrast", "warm light"] * 12)
    c = caption([PREFIX, "sks_ava"], body, "template", clip_counter, 40, 77)
    assert c.truncated and c.tokens == clip_counter(c.text) and 40 <= c.tokens <= 77 and c.within_range
    assert c.text.startswith(f"{PREFIX}, sks_ava, front view")
    words = set(body.replace(",", " ").split()) | set(PREFIX.replace(",", " ").split()) | {"sks_ava"}
    assert set(c.text.replace(",", " ").split()) <= words  # every word whole
    # a cut of one more word would have fitted in fewer tokens; nothing that fits is cut
    short, cut = fit_caption([PREFIX], ["front view"], clip_counter, 77)
    assert short == f"{PREFIX}, front view" and not cut


def test_short_captions_are_flagged_not_padded(clip_counter):
    c = caption([PREFIX, "sks_bo"], "", "vlm:x", clip_counter, 40, 77)
    assert c.text == f"{PREFIX}, sks_bo" and not c.within_range and c.tokens < 40


def test_token_count_uses_the_base_models_tokenizer_when_configured(tmp_path):
    assert isinstance(token_counter(None), ApproximateTokenCounter)
    clip_tokenizer(tmp_path / "base" / "tokenizer")
    counter = token_counter(str(tmp_path / "base"))
    assert counter("a character") == 4  # start, a, character, end: whole words of its vocabulary
    with pytest.raises(ModelError, match="tokenizer"):
        token_counter(str(tmp_path / "nothing"))


def test_approximation_counts_digits_punctuation_and_long_words():
    count = ApproximateTokenCounter()
    assert count("a 3d, b") == 2 + 5  # a, 3, d, ",", b
    assert count("photorealistic") == 2 + 2  # 14 letters: one token plus one for the letters past 8


def _rgba(bgr, h=96, w=64):
    img = np.zeros((h, w, 4), np.uint8)
    img[..., :3] = bgr
    img[16:80, 12:52, 3] = 255
    img[..., :3][img[..., 3] == 0] = (0, 0, 255)  # red background that must not count
    return img


def test_template_captioner_says_it_is_a_template_and_describes_the_measured_facts():
    captioner = TemplateCaptioner()
    assert isinstance(captioner, Captioner) and captioner.method == "template"
    facts = CaptionFacts("ava", bucket="profile", shot_scale="close_up", camera="pan_left", action="running",
                         effects=["rain"])
    body = captioner([_rgba((220, 160, 40))], [facts], "unused")[0]
    c = caption([PREFIX, trigger_word({}, "ava")], body, captioner.method, ApproximateTokenCounter(), 40, 77)
    for phrase in ("sks_ava", "side profile view", "running", "close up shot", "camera pan left", "with rain"):
        assert phrase in c.text
    assert c.within_range and c.method == "template"
    assert trigger_word({"ava": "avx girl"}, "ava") == "avx girl"


def test_light_and_colour_come_from_the_characters_own_pixels():
    bright_blue = light_and_colour(_rgba((230, 140, 60)))
    assert "blue" in bright_blue[-1] and "red" not in bright_blue[-1] and "cool" in bright_blue[0]
    assert "low-key" in light_and_colour(_rgba((30, 30, 40)))[0]


def _toml_keys(text):
    return tomllib.loads(text)


def test_kohya_dataset_config_has_the_documented_keys_and_no_flips_or_colour_jitter():
    subsets = [Subset("ava", "ava/images", "sks_ava", 200), Subset("bo", "bo/images", "sks_bo", 50)]
    doc = _toml_keys(dataset_toml(subsets, TrainingConfig(resolution=768, train_batch_size=3)))
    assert set(doc) == {"general", "datasets"}
    assert set(doc["general"]) <= KOHYA_GENERAL_OR_SUBSET
    assert doc["general"]["flip_aug"] is False and doc["general"]["color_aug"] is False
    (dataset,) = doc["datasets"]
    assert set(dataset) <= KOHYA_DATASET and dataset["resolution"] == 768 and dataset["batch_size"] == 3
    by = {s["class_tokens"]: s for s in dataset["subsets"]}
    for s in by.values():
        assert set(s) <= KOHYA_DREAMBOOTH_SUBSET
        assert (s["flip_aug"], s["color_aug"], s["alpha_mask"], s["caption_extension"]) == (False, False, True, ".txt")
    assert by["sks_ava"]["image_dir"] == "ava/images"
    assert (by["sks_ava"]["num_repeats"], by["sks_bo"]["num_repeats"]) == (1, 4)  # 200 x 1 = 50 x 4 per epoch


def test_repeats_give_every_character_similar_steps_per_epoch():
    counts = {"a": 480, "b": 210, "c": 333}
    steps = [n * r for n, r in zip(counts.values(), repeats(counts).values())]
    assert max(steps) / min(steps) < 1.5


def test_training_config_takes_the_film_settings_and_masks_the_loss():
    t = TrainingConfig(network_dim=16, network_alpha=8, learning_rate=2e-4, max_train_steps=1200, resolution=640)
    doc = tomllib.loads(training_toml(t, "sample_lora", base_model="/models/sd15"))
    assert (doc["network_dim"], doc["network_alpha"], doc["learning_rate"]) == (16, 8, 2e-4)
    assert doc["max_train_steps"] == 1200
    assert doc["resolution"] == "640,640" and doc["masked_loss"] is True
    assert doc["network_module"] == "networks.lora" and doc["dataset_config"] == "dataset.toml"
    assert doc["pretrained_model_name_or_path"] == "/models/sd15" and doc["save_model_as"] == "safetensors"


def _textured(seed, h=120, w=80):
    rng = np.random.default_rng(seed)
    img = np.zeros((h, w, 4), np.uint8)
    small = rng.integers(0, 255, (h // 8, w // 8, 3), dtype=np.uint8)
    img[..., :3] = cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)
    img[..., 3] = 255
    img[:, :10, 3] = 20  # soft edge below the alpha threshold (0.15 -> 38)
    img[:, 10:16, 3] = 128  # soft edge above it
    return img


def _candidates(images, buckets, face_sizes=None):
    from animproc.image.hashing import dhash, phash
    from animproc.training.captions import on_grey

    out = []
    for k, (path, bucket) in enumerate(zip(images, buckets)):
        gray = cv2.cvtColor(on_grey(images[path]), cv2.COLOR_BGR2GRAY)
        out.append(Candidate(path, path, f"{PREFIX}, sks_x, caption {k}", 20, bucket, k % 2,
                             sharpness(images[path]), (face_sizes or {}).get(path, 0.0), phash(gray), dhash(gray),
                             cv2.resize(gray, (64, 64))))
    return out


def test_lora_subsets_balance_buckets_drop_duplicates_and_keep_the_soft_alpha(tmp_path):
    images = {f"img{k}": _textured(k) for k in range(12)}
    images["dup"] = images["img0"].copy()
    buckets = ["front"] * 7 + ["profile"] * 3 + ["back"] * 2 + ["front"]
    few = {f"few{k}": _textured(100 + k) for k in range(3)}
    per = {"ava": _candidates(images, buckets), "bo": _candidates(few, ["front"] * 3)}
    config = FilmConfig(training=TrainingConfig(min_images=5, max_images=6))
    st = Storage(tmp_path)
    with FilmProducts(st, "film").publish("lora_dataset") as out:
        table, summary, sheets = write_lora_dataset(per, {**images, **few}.__getitem__, config, out)
    folder = tmp_path / "film" / "lora_dataset"
    assert summary["left_out"]["bo"].startswith("3 usable images") and "not padded" in summary["left_out"]["bo"]
    ava = summary["characters"]["ava"]
    assert ava["near_duplicates"] == 1 and ava["chosen"] == 6 and len(table) == 6
    assert ava["buckets"] == {"back": 2, "front": 2, "profile": 2}  # round-robin over buckets
    assert not ({"dup", "img0"} <= set(table["instance_id"]))
    assert set(sheets) == {"ava"} and (folder / "ava" / "sheet.jpg").read_bytes() == sheets["ava"]
    png = cv2.imread(str(tmp_path / table["file"].iloc[0]), cv2.IMREAD_UNCHANGED)
    assert png.shape[2] == 4 and (png[:, :10, 3] == 0).all() and (png[:, 10:16, 3] == 128).all()
    # the pixels are the source's, unflipped and not recoloured
    src = images[table["instance_id"].iloc[0]]
    assert np.array_equal(png[..., :3], src[..., :3])
    txt = (tmp_path / table["file"].iloc[0]).with_suffix(".txt").read_text()
    assert txt == table["caption"].iloc[0]
    meta = [json.loads(line) for line in (folder / "metadata.jsonl").read_text().splitlines()]
    assert len(meta) == 6 and all((folder / m["file_name"]).exists() for m in meta)
    doc = tomllib.loads((folder / "dataset.toml").read_text())
    (subset,) = doc["datasets"][0]["subsets"]
    assert (folder / subset["image_dir"]).is_dir() and subset["class_tokens"] == "sks_ava"
    assert tomllib.loads((folder / "training.toml").read_text())["masked_loss"] is True


def test_export_lora_writes_one_characters_set_where_a_trainer_expects_it(tmp_path, monkeypatch, capsys):
    from animproc_dagster.cli import main

    images = {f"img{k}": _textured(k) for k in range(4)}
    st = Storage(tmp_path / "data")
    config = FilmConfig(training=TrainingConfig(min_images=2, resolution=640))
    with FilmProducts(st, "film").publish("lora_dataset") as out:
        write_lora_dataset({"ava": _candidates(images, ["front", "back"] * 2),
                            "bo": _candidates({"x": _textured(50)}, ["front"])}, images.__getitem__, config, out)
    monkeypatch.setenv("ANIMPROC_DATA", str(tmp_path / "data"))
    target = tmp_path / "export" / "ava"
    assert main(["export", "lora", "film", "ava", "--output", str(target)]) == 0
    assert sorted(p.name for p in target.iterdir()) == ["dataset.toml", "images", "metadata.jsonl", "training.toml"]
    assert len(list((target / "images").glob("*.png"))) == len(list((target / "images").glob("*.txt"))) == 4
    dataset = tomllib.loads((target / "dataset.toml").read_text())
    (subset,) = dataset["datasets"][0]["subsets"]
    assert subset["image_dir"] == str((target / "images").resolve()) and dataset["datasets"][0]["resolution"] == 640
    training = tomllib.loads((target / "training.toml").read_text())
    assert training["dataset_config"] == str((target / "dataset.toml").resolve()) and training["masked_loss"]
    assert main(["export", "lora", "film", "bo", "--output", str(tmp_path / "bo")]) == 2
    assert "fewer than the minimum of 2" in capsys.readouterr().err and not (tmp_path / "bo").exists()
    assert main(["export", "lora", "film", "ava", "--output", str(target)]) == 2  # not over an existing set
    assert "not empty" in capsys.readouterr().err


def test_balanced_sample_takes_a_lone_image_at_index_zero():
    from animproc.identity.poses import balanced_sample

    assert balanced_sample(["front"], [0], [1.0], 5) == [0]  # index 0 left last was once taken for "empty"
    assert sorted(balanced_sample(["back", "front"], [0, 0], [0.2, 0.9], 5)) == [0, 1]


def test_quality_ranks_sharper_images_with_bigger_faces_first():
    sharp, blurred = _textured(1), cv2.GaussianBlur(_textured(1), (9, 9), 4)
    assert sharpness(sharp) > sharpness(blurred)
    cands = _candidates({"s": sharp, "b": blurred}, ["front", "front"], {"s": 30.0, "b": 10.0})
    q = quality_scores(cands)
    assert q[0] > q[1]
    assert (cut_alpha(sharp, 0.15)[:, :10, 3] == 0).all()


def test_qwen2vl_captioner_from_a_local_folder_through_the_resource(tmp_path, clip_counter):
    from resources.captioner import CaptionerResource

    folder = tiny_qwen2vl(tmp_path / "qwen")
    model = CaptionerResource(backend="auto", qwen2vl_model=str(folder), device="cpu", batch_size=2).model()
    assert isinstance(model, Captioner) and model.method.startswith("vlm:qwen2-vl")
    images = [_textured(k, 64 + 8 * k, 56) for k in range(3)]
    bodies = model(images, [CaptionFacts("ava")] * 3, "describe the character")
    assert len(bodies) == 3 and all(set(b.split()) <= set(QWEN_WORDS) for b in bodies)
    c = caption([PREFIX, "sks_ava"], bodies[0], model.method, clip_counter, 1, 77)
    assert c.text.startswith(f"{PREFIX}, sks_ava") and c.method == model.method
    with pytest.raises(ModelError, match="config.json"):
        CaptionerResource(backend="qwen2vl", qwen2vl_model=str(tmp_path)).model()


def test_kohya_lora_changes_the_images_and_the_next_checkpoint_starts_from_the_base_model(tiny_sd, generator):
    _, (first, second) = tiny_sd
    g = generator
    assert isinstance(g, ImageGenerator) and g.ready
    plain = g("a character smiling", 1, 2, 16)
    assert plain.shape == (16, 16, 3) and plain.dtype == np.uint8
    assert np.array_equal(plain, g("a character smiling", 1, 2, 16))  # fixed seed, same image
    g.use(str(first))
    with_first = g("a character smiling", 1, 2, 16)
    assert np.abs(with_first.astype(int) - plain).mean() > 1
    g.use(str(second))
    g.use(str(first))  # merged once, from the base weights, not on top of the second
    assert np.array_equal(with_first, g("a character smiling", 1, 2, 16))
    g.use(None)
    assert np.array_equal(plain, g("a character smiling", 1, 2, 16))


def test_a_lora_for_another_model_is_refused_naming_the_file(generator, tmp_path):
    import torch
    from safetensors.torch import save_file

    bad = tmp_path / "sdxl.safetensors"
    save_file({"lora_unet_input_blocks_4_1_proj_in.lora_down.weight": torch.zeros(4, 8),
               "lora_unet_input_blocks_4_1_proj_in.lora_up.weight": torch.zeros(8, 4)}, str(bad))
    with pytest.raises(ModelError, match=r"sdxl\.safetensors.*match nothing"):
        generator.use(str(bad))
    with pytest.raises(ModelError, match="model_index.json"):
        DiffusersGenerator(str(tmp_path), "cpu")


class _NoFaces:
    name, dim = "none", 4

    def __call__(self, image):
        return []


def test_every_checkpoint_renders_every_prompt_and_seed_and_fills_the_grid(tiny_sd, generator):
    _, checkpoints = tiny_sd
    g = generator
    saved = {}
    scores, cells = render_and_score(g, checkpoints, {"ava": ("sks_ava", None)}, ["{trigger}, front view",
                                     "{trigger}, running"], [1], 2, 16, _NoFaces(), None,
                                     lambda f, bgr: saved.setdefault(f, bgr) is not None and f)
    assert len(scores) == 2 * 2 and set(scores["checkpoint"]) == {"step1.safetensors", "step2.safetensors"}
    assert set(scores["prompt"]) == {"sks_ava, front view", "sks_ava, running"} and len(saved) == 4
    assert scores["identity"].isna().all() and (scores["faces"] == 0).all()
    assert cv2.imdecode(np.frombuffer(grid(cells["ava"], ["a", "b"]), np.uint8), cv2.IMREAD_COLOR) is not None
    assert g.checkpoint is None  # back to the base model afterwards


def test_best_checkpoint_puts_fidelity_first_and_says_what_was_not_measured():
    rows = []
    for ckpt, identity, clip_score, corrupt in (("a", 0.9, 20.0, True), ("b", 0.5, 35.0, False)):
        rows += [{"checkpoint": ckpt, "identity": identity, "clip_score": clip_score, "corrupt": corrupt,
                  "faces": 1}] * 2
    best = choose_best(pd.DataFrame(rows))
    assert best["best"] == "a" and SCORE_WEIGHTS["identity"] > SCORE_WEIGHTS["clip_score"] > SCORE_WEIGHTS["clean"]
    assert any("identity 0.9" in r for r in best["reasons"])
    no_clip = choose_best(pd.DataFrame(rows).assign(clip_score=None))
    assert any("clip_score" in r and "not measured" in r for r in no_clip["reasons"])
    assert no_clip["checkpoints"]["a"]["score"] == round((0.6 * 0.9 + 0.1 * 0) / 0.7, 4)


def test_without_a_base_model_the_generator_says_why_nothing_is_generated():
    from resources.image_generator import ImageGeneratorResource

    g = ImageGeneratorResource(base_model=None).model()
    assert isinstance(g, NoGenerator) and isinstance(g, ImageGenerator) and not g.ready
    assert "ANIMPROC_BASE_MODEL" in g.status


@pytest.mark.slow
def test_sample_film_through_both_gates_captions_with_qwen2vl_and_evaluates_kohya_checkpoints(
        tmp_path, sample_film, tiny_sd):
    """The three assets on the sample film (review: auto) with the tiny Qwen2-VL and the tiny Stable Diffusion
    pipeline through their resources; then, without a base model, lora_evaluation records why it skipped."""
    from dagster import AssetKey, instance_for_test

    from animproc.library import store_source
    from animproc_dagster.definitions import build_defs
    from partitions import add_film
    from resources.captioner import CaptionerResource
    from resources.film_config import FilmConfigResource
    from resources.image_generator import ImageGeneratorResource
    from resources.shot_detector import ShotDetectorResource
    from resources.storage import StorageResource

    base, checkpoints = tiny_sd
    st = Storage(tmp_path / "data")
    store_source(st, "sample", sample_film[0])
    (tmp_path / "sample.yaml").write_text(
        "review: auto\ntraining:\n  min_images: 2\n  eval_size: 16\n  eval_steps: 2\n  eval_seeds: [3]\n"
        f"  eval_prompts: ['{{trigger}}, front view']\n  checkpoints: {checkpoints[0].parent}\n")
    qwen = tiny_qwen2vl(tmp_path / "qwen")

    def defs(base_model):
        return build_defs(StorageResource(root=str(tmp_path / "data")), FilmConfigResource(config_dir=str(tmp_path)),
                          ShotDetectorResource(backend="default"),
                          captioner=CaptionerResource(qwen2vl_model=str(qwen), base_model=base_model, device="cpu"),
                          image_generator=ImageGeneratorResource(base_model=base_model, clip_model=None, device="cpu"))

    with_models = defs(str(base))
    with instance_for_test() as inst:
        add_film(inst, "sample")
        for job in ("film_assets", "instances_reviewed", "identities_reviewed"):
            assert with_models.resolve_job_def(job).execute_in_process(instance=inst, partition_key="sample").success
        meta = {k: inst.get_latest_materialization_event(AssetKey(k)).asset_materialization.metadata
                for k in ("captions", "lora_dataset", "lora_evaluation")}
        caps = st.read_parquet(st.asset_dir("sample", "captions") / "captions.parquet")
        assert len(caps) and caps["method"].str.startswith("vlm:qwen2-vl").all()
        assert caps["token_counter"].str.startswith("clip tokenizer").all() and (caps["tokens"] <= 77).all()
        assert meta["lora_dataset"]["images"].value > 0
        summary = json.loads((st.asset_dir("sample", "lora_evaluation") / "summary.json").read_text())
        assert summary["best"] in {c.name for c in checkpoints} and summary["reasons"]
        assert any(k.startswith("grid/") for k in meta["lora_evaluation"])
        without = defs(None)
        job = without.resolve_job_def("identities_reviewed")
        assert job.execute_in_process(instance=inst, partition_key="sample",
                                      asset_selection=[AssetKey("lora_evaluation")]).success
        skipped = inst.get_latest_materialization_event(AssetKey("lora_evaluation")).asset_materialization.metadata
        assert "ANIMPROC_BASE_MODEL" in skipped["skipped"].value
