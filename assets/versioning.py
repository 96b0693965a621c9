"""Data versions from content: every asset's MaterializeResult carries the version of the product folder it
just published, so Dagster's provenance (and `animproc run`) sees whether downstream inputs really changed."""
from __future__ import annotations

import functools
import inspect

from dagster import AssetKey, DataVersion, MaterializeResult

from animproc.product_version import product_version


def _with_version(result, context, resources: dict) -> object:
    if not isinstance(result, MaterializeResult) or result.data_version is not None:
        return result
    if "storage" not in resources:
        raise TypeError(f"{context.op_def.name}: a content-versioned asset takes the `storage` resource")
    storage = resources["storage"]
    key = result.asset_key or context.asset_key
    version = product_version(storage.storage(), context.partition_key, AssetKey.from_coercible(key).path[-1])
    return MaterializeResult(asset_key=result.asset_key, metadata=result.metadata, check_results=result.check_results,
                             data_version=DataVersion(version), tags=result.tags, value=result.value)


def content_versioned(compute):
    """Decorator under `@asset` / `@multi_asset` (the function takes `context` and a `storage` resource): each
    returned or yielded MaterializeResult gets the data version of `{root}/{film}/{asset}/`, read when it is
    returned, so after the asset's `publish_dir` has swapped the folder in (yield after that block, not in it)."""
    if inspect.isgeneratorfunction(compute):
        @functools.wraps(compute)
        def generate(context, *args, **kwargs):
            for item in compute(context, *args, **kwargs):
                yield _with_version(item, context, kwargs)
        return generate

    @functools.wraps(compute)
    def run(context, *args, **kwargs):
        return _with_version(compute(context, *args, **kwargs), context, kwargs)
    return run
