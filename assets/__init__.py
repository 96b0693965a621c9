"""Dagster assets, one module per domain. Every asset body runs inside `film_step`, the one scaffold that gives
it its film, storage, config, timing and a catalogue reader limited to the inputs it declares, and that turns
the project's errors into failures that are not retried."""
from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from dagster import (AssetExecutionContext, AssetKey, Failure, MaterializeResult, MetadataValue, TableColumn,
                     TableSchema, asset)

from animproc.catalogue import FilmProducts, product
from animproc.config import FilmConfig
from animproc.errors import AnimprocError
from animproc.progress import ProgressReport, ProgressReporter
from animproc.storage import Storage
from partitions import film_partitions


def fail(problem: AnimprocError | str) -> Failure:
    """A user-facing error (it names the file and the problem) as a Dagster failure that is not retried."""
    return Failure(description=str(problem), allow_retries=False)


def table_schemas(name: str) -> dict:
    """The product's tables as UI metadata: the first as `dagster/column_schema`, each as `schema/{table}`."""
    out = {}
    for k, (table, spec) in enumerate(product(name).tables.items()):
        schema = TableSchema(columns=[TableColumn(n, t) for n, t in spec.columns])
        if k == 0:
            out["dagster/column_schema"] = schema
        out[f"schema/{table}"] = MetadataValue.table_schema(schema)
    files = {**{t: s.file for t, s in product(name).tables.items()}, **product(name).files}
    if files:
        out["files"] = MetadataValue.json(files)
    return out


OPTIONAL_INPUTS = "optional_inputs"


def film_asset(*, deps: list[str], code_version: str, optional: list[str] = (), **kwargs):
    """`@asset` for a film-partitioned product of the catalogue (named by the function), with its schemas, its
    code version, its placement (pool and k8s / Celery tags from resources.placement) and a data version from
    the content it published (assets.versioning).
    `optional`: inputs that exist only after a review; declared like the others (the graph shows them), listed
    in the definition's metadata, and looked up rather than required (absent ones show as `inputs_missing`)."""
    from assets.versioning import content_versioned
    from resources.placement import step_pool, step_tags

    def wrap(fn):
        name = fn.__name__
        metadata = table_schemas(name)
        if optional:
            metadata[OPTIONAL_INPUTS] = MetadataValue.json(list(optional))
        return asset(partitions_def=film_partitions, deps=[*deps, *optional], metadata=metadata,
                     code_version=code_version, op_tags=step_tags(name), pool=step_pool(name),
                     **kwargs)(content_versioned(fn))
    return wrap


def optional_inputs(metadata: dict) -> set[str]:
    """The optional inputs an asset definition's metadata lists."""
    value = metadata.get(OPTIONAL_INPUTS)
    return set(value.value if hasattr(value, "value") else value or [])


@dataclass
class Step:
    context: AssetExecutionContext
    film: str
    storage: Storage
    products: FilmProducts
    config: FilmConfig | None
    config_path: str | None
    started: float = field(default_factory=time.perf_counter)
    progress: ProgressReporter = field(default_factory=ProgressReporter)

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def seconds(self) -> float:
        return round(self.elapsed(), 2)

    def result(self, metadata: dict, asset_key: str | None = None) -> MaterializeResult:
        """The asset's metadata with the inputs it opened (and optional inputs it found missing)."""
        lineage = {"inputs_read": MetadataValue.json(sorted(self.products.reads))}
        if self.products.missing:
            lineage["inputs_missing"] = MetadataValue.json(sorted(self.products.missing))
        if self.progress.latest:  # the last report of each long loop: units, seconds, rate
            lineage["progress"] = MetadataValue.json({t: r.to_dict() for t, r in self.progress.latest.items()})
        return MaterializeResult(asset_key=AssetKey(asset_key) if asset_key else None,
                                 metadata={**metadata, **lineage})


def declared_inputs(context: AssetExecutionContext) -> tuple[set[str], set[str]]:
    """The upstream products the asset's definition declares (for a multi-asset, outside its own outputs), and
    its own."""
    ad = context.assets_def
    own = {k.to_user_string() for k in ad.keys}
    return {k.to_user_string() for k in ad.dependency_keys} - own, own


def progress_logger(context: AssetExecutionContext) -> ProgressReporter:
    """Progress of the step's long loops as lines of one format in the run's log (`ProgressReport.line`), which
    the CLI's bars and `animproc status` read back."""
    def log(report: ProgressReport) -> None:
        context.log.info(report.line())
    return ProgressReporter(log)


@contextmanager
def film_step(context: AssetExecutionContext, storage, film_config=None) -> Iterator[Step]:
    film = context.partition_key
    try:
        st = storage.storage()
        config, config_path = film_config.load(film) if film_config is not None else (None, None)
        declared, own = declared_inputs(context)
        yield Step(context, film, st, FilmProducts(st, film, declared, own), config, config_path,
                   progress=progress_logger(context))
    except AnimprocError as exc:
        raise fail(exc) from None
