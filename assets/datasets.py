"""Products over every analysis, partitioned by film: the film timeline and the training datasets (issue 14), and
`datasets_all_films`, the union of every film's datasets.

They read reviewed products (characters, character_voices), so they run in the identity gate's job; a film
without audio, faces or reviews gets empty-but-valid products whose metadata says why."""
from dagster import AssetExecutionContext, MetadataValue

from animproc.image.preview import markdown_image, markdown_table
from animproc.timeline import build_timeline, summary, timeline_figure, timeline_inputs
from assets import film_asset, film_step
from resources.film_config import FilmConfigResource
from resources.storage import StorageResource

GROUP = "datasets"
TIMELINE_INPUTS = ["source_video", "shot_structure", "motion", "effects_catalog", "audio", "vocals", "diarization"]
TIMELINE_OPTIONAL = ["characters", "identity_clusters", "character_voices", "av_sync"]


@film_asset(code_version="1", group_name=GROUP, deps=TIMELINE_INPUTS, optional=TIMELINE_OPTIONAL,
            kinds={"parquet", "png"},
            description="One row per shot: who is on screen (characters) and where their faces are, shot scale, "
                        "camera movement, who speaks (character, else diarization voice), effects, actions, music "
                        "beats, loudness of the mixture and of the vocals; and one row per slice (film config "
                        "`datasets.timeline_slice_seconds`, 0.1 s). The metadata draws it: characters as lanes with "
                        "their speech, shots and scenes above.")
def film_timeline(context: AssetExecutionContext, storage: StorageResource, film_config: FilmConfigResource):
    with film_step(context, storage, film_config) as step:
        slice_seconds = step.config.datasets.timeline_slice_seconds
        inputs = timeline_inputs(step.products, slice_seconds)
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


DATASET_ASSETS = [film_timeline]
