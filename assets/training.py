"""Training sets, partitioned by film, downstream of the identity review: captions -> lora_dataset ->
lora_evaluation. The lineage shows which review decision (through characters) and which captioner and
generator (in the metadata) produced every training image, caption and score."""
from dagster import AssetExecutionContext, MetadataValue

from animproc.image.preview import markdown_image, markdown_table
from animproc.training.stages import caption_stage, dataset_stage, evaluation_stage
from assets import film_asset, film_step
from resources.captioner import CaptionerResource, caption_tokens
from resources.face_analyzer import FaceAnalyzerResource
from resources.film_config import FilmConfigResource
from resources.image_generator import ImageGeneratorResource, clip_scorer
from resources.storage import StorageResource

GROUP = "training"


@film_asset(code_version="1", group_name=GROUP, kinds={"parquet"},
            deps=["characters", "pose_subclusters", "instances_inpainted", "shot_structure", "motion",
                  "effects_catalog"],
            description="A caption for every reviewed character instance: the film's prefix, the character's trigger "
                        "word, then the captioner's words (Qwen2-VL from a local folder, or the template built from "
                        "pose bucket, shot scale, camera movement, action, effects, light and colours), kept within "
                        "the film's CLIP token range and cut only between words; stored with its method and token "
                        "count.")
def captions(context: AssetExecutionContext, storage: StorageResource, film_config: FilmConfigResource,
             captioner: CaptionerResource):
    with film_step(context, storage, film_config) as step:
        model, count = captioner.model(step.config), caption_tokens(captioner)
        table, summary = caption_stage(step.products, step.config, model, count, step.progress)
        with step.products.publish("captions") as out:
            out.table("captions", table)
            out.json("summary", summary)
        examples = table.groupby("character").head(2)[["character", "tokens", "caption"]]
        return step.result({
            "captions": len(table), "method": model.method, "token_counter": count.name,
            "within_range": int(table["within_range"].sum()), "truncated": int(table["truncated"].sum()),
            "tokens": MetadataValue.json({c: s["tokens"] for c, s in summary["characters"].items()}),
            "examples": MetadataValue.md(markdown_table(examples) if len(examples) else "no captions"),
            "seconds": step.seconds()})


@film_asset(code_version="1", group_name=GROUP, kinds={"parquet", "png", "toml"},
            deps=["captions", "characters", "pose_subclusters", "faces"],
            description="Per character, a kohya LoRA subset: the best images (sharpness, face size) balanced over pose "
                        "buckets and sub-clusters, near-duplicates removed, as RGBA PNG with the character's soft "
                        "alpha and a .txt caption beside each; no flips, no colour jitter. dataset.toml (one subset "
                        "per character, repeats balancing steps per epoch, alpha_mask), training.toml (masked_loss), "
                        "metadata.jsonl for Hugging Face imagefolder. Characters with too few images are listed "
                        "with the reason.")
def lora_dataset(context: AssetExecutionContext, storage: StorageResource, film_config: FilmConfigResource,
                 captioner: CaptionerResource):
    with film_step(context, storage, film_config) as step:
        with step.products.publish("lora_dataset") as out:
            table, summary, sheets = dataset_stage(step.products, step.config, out, captioner.base_model,
                                                   step.progress)
        previews = {f"sheet/{name}": MetadataValue.md(markdown_image(data, alt=name)) for name, data in sheets.items()}
        return step.result({**previews,
            "images": len(table), "characters": MetadataValue.json(summary["characters"]),
            "left_out": MetadataValue.json(summary["left_out"]),
            "min_images": step.config.training.min_images, "max_images": step.config.training.max_images,
            "seconds": step.seconds()})


@film_asset(code_version="1", group_name=GROUP, kinds={"parquet", "png"},
            deps=["lora_dataset", "characters", "faces"],
            description="Every LoRA checkpoint in the film's checkpoints folder rendered on the fixed prompts and "
                        "seeds (base model from a local folder), scored for identity (the character's reviewed "
                        "medoid face), CLIP score when a local CLIP is configured and corruption (faces per image, "
                        "sharpness); comparison grids (checkpoint x prompt) and the best checkpoint with its "
                        "reasons. Skipped, with the reason, without a base model or checkpoints.")
def lora_evaluation(context: AssetExecutionContext, storage: StorageResource, film_config: FilmConfigResource,
                    image_generator: ImageGeneratorResource, face_analyzer: FaceAnalyzerResource):
    with film_step(context, storage, film_config) as step:
        generator = image_generator.model(step.config)
        clip = clip_scorer(image_generator) if generator.ready else None
        with step.products.publish("lora_evaluation") as out:
            scores, summary, grids = evaluation_stage(step.products, step.config, step.config_path, out, generator,
                                                      face_analyzer.model(step.config), clip, step.progress)
        meta = {"images": len(scores), "generator": generator.name, "seconds": step.seconds()}
        if "skipped" in summary:
            meta["skipped"] = summary["skipped"]
        else:
            meta.update({"best": summary["best"], "reasons": MetadataValue.json(summary["reasons"]),
                         "checkpoints": MetadataValue.json(summary["checkpoints"])})
            for name, data in grids.items():
                meta[f"grid/{name}"] = MetadataValue.md(markdown_image(data, alt=f"{name}: checkpoint x prompt"))
        return step.result(meta)
