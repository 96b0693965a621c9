"""Every film's datasets as one dataset per task: the films' shards copied side by side (they share their
features, so `load_dataset("parquet", data_files=".../data/train-*.parquet")` reads them as one), a union index
with the film of each row, per-film counts, and a card. Films whose dataset is not materialised are skipped and
listed with the reason."""
from __future__ import annotations

import pandas as pd

from animproc.catalogue import DATASETS, FilmProducts
from animproc.datasets.card import dataset_card
from animproc.datasets.tasks import BY_ASSET
from animproc.progress import NO_PROGRESS, Progress

NOT_BUILT = "not materialised for this film"


def union_datasets(storage, films: list[str], out, progress: Progress = NO_PROGRESS) -> dict:
    """Write the union into `out` (the datasets_all_films product being published). Returns films.json's
    content: per dataset, the rows of each included film, per split, and the films skipped with why.
    `progress` hears of the film datasets gathered."""
    report = {}
    union_index = []
    task = progress.task("union", len(DATASETS) * len(films), "film datasets")
    for name in DATASETS:
        spec, included, skipped, splits = BY_ASSET[name], {}, {}, {}
        lineage, licences, why = [], {}, {}
        for film in sorted(films):
            task.advance()
            products = FilmProducts(storage, film, declared=DATASETS)
            if not products.has(name, "index"):
                skipped[film] = NOT_BUILT
                continue
            index = products.table(name, "index")
            info = products.json(name, "splits")
            included[film] = len(index)
            for split, part in info["splits"].items():
                entry = splits.setdefault(split, {"rows": 0, "files": [], "groups": 0})
                entry["rows"] += part["rows"]
                entry["groups"] += part["groups"]
                for k, file in enumerate(part["files"] if part["rows"] else []):  # an empty shard adds nothing
                    target = f"{spec.task}/data/{split}-{film}-{k:05d}.parquet"
                    storage.copy(products.resolve(f"{film}/{name}/{file}"), out.path(target))
                    entry["files"].append(target)
            if len(index):
                lineage.append({c: index[c].iloc[0] for c in ("film", "source_versions", "review_versions", "models")})
                union_index.append(index.assign(dataset=name))
            licences[film] = _card_licence(products, name)
            why.update({f"{film}: {k}": v for k, v in info.get("empty_parts", {}).items()})
        splits = {s: v for s, v in splits.items() if v["files"]}
        licence = next(iter(set(licences.values()))) if len(set(licences.values())) == 1 else "other"
        if included:
            card = dataset_card(spec, sorted(included), splits, licence, "scene or shot (as each film is set)",
                                lineage, {**why, **{f"{f}": f"licence {v}" for f, v in licences.items()
                                                    if licence == "other"}})
            storage.write_text(out.path(f"{spec.task}/README.md"), card)
        report[name] = {"films": included, "skipped": skipped, "rows": sum(included.values()),
                        "splits": {s: v["rows"] for s, v in splits.items()}, "licence": licence if included else None}
    task.finish()
    index = pd.concat(union_index, ignore_index=True) if union_index else pd.DataFrame(
        columns=["dataset", "row_id", "split", "film", "group"])
    lead = ["dataset", "row_id", "split", "film", "group"]
    out.table("index", index[lead + [c for c in index.columns if c not in lead]])
    out.json("films", report)
    out.text("card", _overview(report))
    return report


def _card_licence(products, name: str) -> str:
    """The licence a film's dataset card states (its YAML header's `license`)."""
    import yaml

    card = products.file(name, "card")
    return str(yaml.safe_load(card.read_text().split("---")[1]).get("license", "unknown")) if card.exists() else "unknown"


def _overview(report: dict) -> str:
    lines = ["# Datasets over every film", "", "| dataset | films | rows | skipped |", "| --- | --- | --- | --- |"]
    for name, r in report.items():
        films = ", ".join(f"{f} ({n})" for f, n in r["films"].items()) or "none"
        lines.append(f"| {name} | {films} | {r['rows']} | {', '.join(r['skipped']) or '-'} |")
    return "\n".join(lines) + "\n"


def skipped_films(report: dict) -> dict[str, list[str]]:
    """film -> the datasets it was skipped from."""
    by_film: dict[str, list[str]] = {}
    for name, r in report.items():
        for film in r["skipped"]:
            by_film.setdefault(film, []).append(name)
    return by_film
