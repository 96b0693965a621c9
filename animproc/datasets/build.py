"""One film's dataset of one task type, from plan to shards, index, splits and card (the stage the dataset
assets call)."""
from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass

from animproc.config import DatasetsConfig
from animproc.datasets.card import dataset_card
from animproc.datasets.lineage import Lineage, models_for, review_versions, source_versions
from animproc.datasets.shards import AudioClips, assign_splits, group_keys, index_table, write_shards
from animproc.datasets.tasks import MODEL_COLUMNS, PLANNERS, TASKS, Sources
from animproc.progress import NO_PROGRESS, Progress


@dataclass
class Built:
    rows: int
    splits: dict
    why: dict[str, str]
    lineage: dict[str, str]


def build_dataset(products, out, task: str, config: DatasetsConfig, configured: dict[str, str],
                  progress: Progress = NO_PROGRESS) -> Built:
    """Plan the rows, split them by scene or shot, write the shards, the index table, splits.json and the card
    into `out` (the product being published). `configured`: model family -> the backend its resource is set to.
    `progress` hears of the rows written."""
    spec, film = TASKS[task], products.film
    with ExitStack() as stack:
        clips = None
        if products.json("audio", "info").get("has_audio"):
            wav = stack.enter_context(products.storage.local_copy(products.file("audio", "analysis")))
            clips = AudioClips(wav, config.clip_seconds)
            stack.callback(clips.close)
        plan = PLANNERS[task](Sources(products, clips))
        rows = plan.rows.reset_index(drop=True)
        rows["group"] = group_keys(rows, config.split_by) if len(rows) else []
        rows["split"] = assign_splits(rows["group"], config.validation_share, config.test_share, f"{film}:{task}")
        rows["row_id"] = [f"{film}/{task}/{k:06d}" for k in range(len(rows))]
        lineage = Lineage(film, source_versions(products, products.reads - {"instance_review", "identity_review"}),
                          review_versions(products), models_for(MODEL_COLUMNS[task], configured)).columns()
        splits = write_shards(out, spec, rows, plan.load, lineage, config.shard_rows, config.shard_megabytes << 20,
                              progress, config.row_group_megabytes << 20)
    out.table("index", index_table(rows, spec, lineage))
    out.json("splits", {"film": film, "task": task, "split_by": config.split_by, "rows": len(rows),
                        "splits": splits, "empty_parts": plan.why})
    out.text("card", dataset_card(spec, [film], splits, config.licence, config.split_by, [lineage], plan.why))
    return Built(len(rows), splits, plan.why, lineage)
