"""Products over every analysis, partitioned by film: the film timeline and the training datasets (issue 14), and
`datasets_all_films`, the union of every film's datasets.

They read reviewed products (characters, character_voices), so they run in the identity gate's job; a film
without audio, faces or reviews gets empty-but-valid products whose metadata says why."""
import json

from dagster import (AllPartitionMapping, AssetDep, AssetExecutionContext, DataVersion, MaterializeResult,
                     MetadataValue, asset)

from animproc.catalogue import ALL_FILMS, DATASETS, FilmProducts
from animproc.errors import AnimprocError
from animproc.image.preview import markdown_image, markdown_table
from animproc.product_version import product_version
from animproc.timeline import build_timeline, summary, timeline_figure, timeline_inputs
from assets import fail, film_asset, film_step, progress_logger, table_schemas
from partitions import film_partitions
from resources.action_recognizer import ActionRecognizerResource
from resources.diarizer import DiarizerResource
from resources.face_analyzer import FaceAnalyzerResource
from resources.film_config import FilmConfigResource
from resources.inpainter import InpainterResource
from resources.optical_flow import OpticalFlowResource
from resources.placement import step_pool, step_tags
from resources.segmenter import SegmenterResource
from resources.shot_detector import ShotDetectorResource
from resources.storage import StorageResource

GROUP = "datasets"
TIMELINE_INPUTS = ["source_video", "shot_structure", "motion", "effects_catalog", "audio", "vocals"]
# read when present: a film without a review, faces or audio still gets a timeline that says what it lacks
TIMELINE_AFTER_REVIEW = ["characters", "identity_clusters", "character_voices", "av_sync"]


@film_asset(code_version="3", group_name=GROUP, deps=TIMELINE_INPUTS + TIMELINE_AFTER_REVIEW,
            kinds={"parquet", "png"},
            description="One row per shot: who is on screen (characters) and where their faces are, shot scale, "
                        "camera movement, who speaks (character, else the diarized voice), effects, actions, music "
                        "beats, loudness of the mixture and of the vocals; and one row per slice (film config "
                        "`datasets.timeline_slice_seconds`, 0.1 s). The metadata draws it: characters as lanes with "
                        "their speech, shots and scenes above.")
def film_timeline(context: AssetExecutionContext, storage: StorageResource, film_config: FilmConfigResource):
    with film_step(context, storage, film_config) as step:
        slice_seconds = step.config.datasets.timeline_slice_seconds
        inputs = timeline_inputs(step.products, slice_seconds, step.progress)
        shots, slices = build_timeline(inputs, slice_seconds)
        facts = summary(shots, slices, inputs)
        image = timeline_figure(shots, slices, inputs.duration)
        with step.products.publish("film_timeline") as out:
            out.table("shots", shots)
            out.table("slices", slices)
            out.json("summary", facts)
            out.blob("timeline.png", image)
        preview = shots[["shot_id", "start_time", "scale", "on_screen", "speakers", "effects", "actions"]].head(20)
        return step.result({
            "shots": len(shots), "slices": len(slices), "slice_seconds": slice_seconds, "seconds": step.seconds(),
            "on_screen_seconds": MetadataValue.json(facts["on_screen_seconds"]),
            "speaking_seconds": MetadataValue.json(facts["speaking_seconds"]),
            "empty_parts": MetadataValue.json(facts["empty_parts"]),
            "timeline": MetadataValue.md(markdown_image(image, "image/png", "timeline")),
            "preview": MetadataValue.md(markdown_table(preview) if len(shots) else "no shots")})


GATES = ["instance_review", "identity_review"]  # their review file versions go into every row
REVIEWED = ["characters", "identity_clusters", "character_voices"]  # after the identity review (and A's mapping)
DATASET_INPUTS = {
    "character_multimodal": (["film_timeline", "audio", "voice_features", *GATES], REVIEWED),
    "scene_understanding": (["film_timeline", "audio", "frames_processed", *GATES], []),
    "action_recognition": (["film_timeline", "audio", "motion", "frames_processed", *GATES], []),
    "emotion_analysis": (["film_timeline", "audio", "voice_features", *GATES], REVIEWED),
}


def _build_dataset(context: AssetExecutionContext, storage: StorageResource, film_config: FilmConfigResource,
                   task: str, configured: dict[str, str]):
    from animproc.datasets.build import build_dataset
    from animproc.datasets.tasks import TASKS

    name = TASKS[task].name
    with film_step(context, storage, film_config) as step:
        with step.products.publish(name) as out:
            built = build_dataset(step.products, out, task, step.config.datasets, configured, step.progress)
        index = step.products.table(name, "index") if built.rows else None
        preview = index.drop(columns=["source_versions", "review_versions", "models"]).head(12) if built.rows else None
        return step.result({
            "rows": built.rows, "seconds": step.seconds(), "licence": step.config.datasets.licence,
            "split_by": step.config.datasets.split_by,
            "splits": MetadataValue.json({s: v["rows"] for s, v in built.splits.items()}),
            "empty_parts": MetadataValue.json(built.why),
            "models": MetadataValue.json(json.loads(built.lineage["models"])),
            "source_versions": MetadataValue.json(json.loads(built.lineage["source_versions"])),
            "preview": MetadataValue.md(markdown_table(preview) if preview is not None
                                        else "no rows: " + ("; ".join(built.why.values()) or "nothing to show"))})


def _dataset_asset(task: str, description: str):
    """The dataset asset of one task. It takes the model resources only to name each family's backend and its
    licence in the `models` lineage column (nothing is loaded)."""
    deps, after_review = DATASET_INPUTS[task]

    def body(context: AssetExecutionContext, storage: StorageResource, film_config: FilmConfigResource,
             face_analyzer: FaceAnalyzerResource, segmenter: SegmenterResource, inpainter: InpainterResource,
             diarizer: DiarizerResource, optical_flow: OpticalFlowResource,
             action_recognizer: ActionRecognizerResource, shot_detector: ShotDetectorResource):
        configured = {"face_analyzer": face_analyzer.backend, "segmenter": segmenter.backend,
                      "inpainter": inpainter.backend, "diarizer": diarizer.backend,
                      "optical_flow": optical_flow.backend, "action_recognizer": action_recognizer.backend,
                      "shot_detector": shot_detector.backend}
        return _build_dataset(context, storage, film_config, task, configured)
    body.__name__ = f"dataset_{task}"
    return film_asset(code_version="1", group_name=GROUP, deps=deps + after_review, kinds={"parquet"},
                      description=description)(body)


_SHARDS = (" Hugging Face Parquet shards with Image / Audio features, a dataset card, lineage columns (film, source "
           "data versions, review versions, model names and licences) in every row, split by scene or shot.")
dataset_character_multimodal = _dataset_asset(
    "character_multimodal", "Per face of a named character: face crop, RGBA instance, a voice clip of the "
                            "character, its voice features, the name." + _SHARDS)
dataset_scene_understanding = _dataset_asset(
    "scene_understanding", "Per shot: keyframe, audio clip, scale, camera, scene, act, characters on screen and "
                           "speaking, the timeline's context line." + _SHARDS)
dataset_action_recognition = _dataset_asset(
    "action_recognition", "Per action segment of a track: the track's crop, action, track speed, shot motion, "
                          "the segment's audio." + _SHARDS)
dataset_emotion_analysis = _dataset_asset(
    "emotion_analysis", "Per face of a named character: face crop, whether it speaks, prosody and tone of its "
                        "voice, the timeline's context line." + _SHARDS)



@asset(group_name=GROUP, code_version="1", kinds={"parquet", "json"}, metadata=table_schemas("datasets_all_films"),
       deps=[AssetDep(name, partition_mapping=AllPartitionMapping()) for name in DATASETS],
       op_tags=step_tags("datasets_all_films"), pool=step_pool("datasets_all_films"),
       description="The per-film datasets of every registered film, one dataset per task: the films' shards side "
                   "by side (one load_dataset reads them all), a union index with each row's film, per-film counts, "
                   "a card per task. Films whose datasets are not materialised are skipped and listed.")
def datasets_all_films(context: AssetExecutionContext, storage: StorageResource) -> MaterializeResult:
    from animproc.datasets.union import skipped_films, union_datasets

    st = storage.storage()
    films = sorted(context.instance.get_dynamic_partitions(film_partitions.name))
    progress = progress_logger(context)
    try:
        with FilmProducts(st, ALL_FILMS).publish("datasets_all_films") as out:
            report = union_datasets(st, films, out, progress)
    except AnimprocError as exc:
        raise fail(exc) from None
    return MaterializeResult(data_version=DataVersion(product_version(st, ALL_FILMS, "datasets_all_films")), metadata={
        "films": MetadataValue.json({n: r["films"] for n, r in report.items()}),
        "rows": MetadataValue.json({n: r["rows"] for n, r in report.items()}),
        "skipped": MetadataValue.json(skipped_films(report)),
        "registered_films": len(films), "inputs_read": MetadataValue.json(sorted(DATASETS)),
        "path": MetadataValue.path(str(st.asset_dir(ALL_FILMS, "datasets_all_films"))),
        "progress": MetadataValue.json({t: r.to_dict() for t, r in progress.latest.items()})})


PER_FILM_ASSETS = [film_timeline, dataset_character_multimodal, dataset_scene_understanding,
                   dataset_action_recognition, dataset_emotion_analysis]
DATASET_ASSETS = [*PER_FILM_ASSETS, datasets_all_films]
