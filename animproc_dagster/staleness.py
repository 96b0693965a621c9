"""Which of a film's assets are out of date, read from the provenance Dagster records on every
materialisation (public API only: the latest materialisation's `dagster/code_version` tag and, per parent,
`dagster/input_event_pointer/...`, the parent's event it read; an external asset's data version is that of its
latest observation, as Dagster reads it).

An asset must run when it never ran for the film, when its code version changed, when a parent's data
version differs from the one it read, or when a parent must run itself. Dagster's UI marks only the first
asset of such a chain "stale" until the parent has run again; following the chain here is what lets one
review decision become one run of everything it affects."""
from __future__ import annotations

from collections.abc import Iterable, Mapping

from dagster import AssetKey, AssetRecordsFilter, DagsterInstance, EventLogRecord

CODE_VERSION_TAG = "dagster/code_version"
DATA_VERSION_TAG = "dagster/data_version"
INPUT_POINTER_PREFIX = "dagster/input_event_pointer/"


def latest_event(instance: DagsterInstance, key: AssetKey, film: str | None, external: bool = False,
                 up_to: int | None = None) -> EventLogRecord | None:
    """The film's latest materialisation of `key` (its latest observation for an external asset such as a
    review), or the latest stored at or before event `up_to`; `film` None: of an asset over every film."""
    records_filter = AssetRecordsFilter(asset_key=key, asset_partitions=[film] if film is not None else None,
                                        before_storage_id=up_to + 1 if up_to is not None else None)
    fetch = instance.fetch_observations if external else instance.fetch_materializations
    records = fetch(records_filter, limit=1).records
    return records[0] if records else None


def _tags(record: EventLogRecord) -> Mapping[str, str]:
    return record.event_log_entry.tags or {}


def data_version(record: EventLogRecord | None) -> str | None:
    return _tags(record).get(DATA_VERSION_TAG) if record else None


def current_data_version(instance: DagsterInstance, key: AssetKey, film: str, external: bool = False) -> str | None:
    return data_version(latest_event(instance, key, film, external))


class _Versions:
    """Latest events, fetched once per asset, with overrides for data versions about to be recorded."""

    def __init__(self, instance: DagsterInstance, graph, film: str, overrides: Mapping[AssetKey, str]):
        self.instance, self.graph, self.film, self.overrides = instance, graph, film, dict(overrides)
        self.latest: dict[AssetKey, EventLogRecord | None] = {}

    def _external(self, key: AssetKey) -> bool:
        return not self.graph.get(key).is_materializable

    def record(self, key: AssetKey) -> EventLogRecord | None:
        if key not in self.latest:
            film = self.film if self.graph.get(key).partitions_def is not None else None  # datasets_all_films
            self.latest[key] = latest_event(self.instance, key, film, self._external(key))
        return self.latest[key]

    def current(self, key: AssetKey) -> str | None:
        return self.overrides[key] if key in self.overrides else data_version(self.record(key))

    def read_by(self, child: EventLogRecord, parent: AssetKey) -> str | None:
        """The parent's data version when `child` ran. The pointer Dagster records is the parent's latest event
        then, of any film; this film's version is its latest event up to that point."""
        pointer = _tags(child).get(INPUT_POINTER_PREFIX + parent.to_user_string())
        if pointer is None or not pointer.isdigit():  # "NULL": the parent had never been materialised
            return None
        return data_version(latest_event(self.instance, parent, self.film, self._external(parent), int(pointer)))


def out_of_date(instance: DagsterInstance, graph, film: str,
                overrides: Mapping[AssetKey, str] | None = None) -> dict[AssetKey, str]:
    """Every materialisable asset of `graph` (a resolved asset graph) that must run for `film`, with the
    reason, in dependency order. `overrides` gives parents' data versions not recorded yet (a review being
    reported in the same sensor tick)."""
    versions = _Versions(instance, graph, film, overrides or {})
    reasons: dict[AssetKey, str] = {}
    for key in graph.toposorted_asset_keys:
        node = graph.get(key)
        if not node.is_materializable:
            continue
        reason = _reason(node, versions, reasons)
        if reason:
            reasons[key] = reason
    return reasons


def _reason(node, versions: _Versions, must_run: Mapping[AssetKey, str]) -> str | None:
    record = versions.record(node.key)
    if record is None:
        return "missing"
    ran_with = _tags(record).get(CODE_VERSION_TAG)
    if node.code_version is not None and ran_with != node.code_version:
        return f"code version {ran_with} -> {node.code_version}"
    for parent in sorted(node.parent_keys, key=lambda k: k.to_user_string()):
        name = parent.to_user_string()
        if parent in must_run:
            return f"{name} runs first"
        current, read = versions.current(parent), versions.read_by(record, parent)
        if current is not None and read != current:
            return f"{name} changed"
    return None


def keys_named(keys: Iterable[AssetKey]) -> list[str]:
    return sorted(k.to_user_string() for k in keys)
