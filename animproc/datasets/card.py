"""The dataset card: README.md with the Hub's YAML header (licence of the source film as configured, features,
splits with their counts, data files) and a body that says how the dataset was made: from which products at
which data versions, which reviews, which models under which licences, and how rows were split."""
from __future__ import annotations

import json

import yaml

from animproc.datasets.shards import TaskSpec, full_features


def _header(spec: TaskSpec, licence: str, splits: dict, pretty: str) -> dict:
    features = full_features(spec)
    return {
        "license": licence, "pretty_name": pretty, "task_categories": list(spec.task_categories),
        "tags": ["animproc", "animation", "multimodal", spec.task],
        "configs": [{"config_name": "default",
                     "data_files": [{"split": s, "path": f"data/{s}-*.parquet"} for s in splits]}],
        "dataset_info": {"features": features._to_yaml_list(),
                         "splits": [{"name": s, "num_examples": v["rows"]} for s, v in splits.items()]}}


def dataset_card(spec: TaskSpec, films: list[str], splits: dict, licence: str, split_by: str, lineage: list[dict],
                 why: dict[str, str]) -> str:
    """`lineage`: per film, its lineage columns (as `Lineage.columns` gives them)."""
    title = f"{spec.title}: {', '.join(films)}"
    lines = ["---", yaml.safe_dump(_header(spec, licence, splits, title), sort_keys=False).rstrip(), "---", "",
             f"# {title}", "", spec.summary, "",
             f"Licence: **{licence}** (the source film's licence as its animproc film config states it; "
             "`unknown` means nobody stated it: check the film's terms before any use).", "",
             "## Splits", "",
             f"Rows are split by **{split_by}**: every row of one {split_by} is in the same split, so near-identical "
             "frames never straddle train and test. The order is a fixed hash, so re-running gives the same splits.",
             "", "| split | rows | groups | files |", "| --- | --- | --- | --- |"]
    lines += [f"| {s} | {v['rows']} | {v['groups']} | {len(v['files'])} |" for s, v in splits.items()]
    lines += ["", "## How it was made", "",
              "Built by [animproc](https://example.invalid/animproc) from the film's analysed and reviewed products. "
              "Every row carries its lineage: `film`, `source_versions` (the data version of each product it "
              "came from), `review_versions` (the review files' versions) and `models` (each model whose output "
              "is a column, with its licence).", ""]
    for entry in lineage:
        lines += [f"### {entry['film']}", "", "Source products and data versions:", ""]
        lines += [f"- `{k}`: `{v}`" for k, v in json.loads(entry["source_versions"]).items()]
        lines += ["", "Reviews: " + (", ".join(f"{k} version {v}" if v is not None else f"{k} (none)"
                                              for k, v in json.loads(entry["review_versions"]).items()) or "none"),
                  "", "| columns | model | licence |", "| --- | --- | --- |"]
        lines += [f"| {', '.join(m['columns'])} | {m['model']} | {m['licence']} |" for m in json.loads(entry["models"])]
        lines.append("")
    if why:
        lines += ["## Empty parts", ""] + [f"- `{k}`: {v}" for k, v in sorted(why.items())] + [""]
    return "\n".join(lines)
