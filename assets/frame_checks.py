"""Asset checks on the visual foundation assets (each carries the film partitions, as checks on
partitioned assets must)."""
from dagster import AssetCheckResult, AssetCheckSeverity, AssetKey, asset_check

from animproc.catalogue import FilmProducts
from animproc.video.manifests import count_problems, frame_index_problems, shot_problems
from partitions import film_partitions
from resources.placement import step_pool, step_tags
from resources.storage import StorageResource


def _result(problems: list[str], **metadata) -> AssetCheckResult:
    return AssetCheckResult(passed=not problems, severity=AssetCheckSeverity.ERROR,
                            description="; ".join(problems) or "ok", metadata=metadata)


def _products(context, storage: StorageResource) -> FilmProducts:
    return FilmProducts(storage.storage(), context.partition_key)


def _frame_count(products: FilmProducts) -> int:
    return int(products.json("source_video", "probe")["frame_count"])


@asset_check(asset=AssetKey("shots"), partitions_def=film_partitions, blocking=True,
             op_tags=step_tags("frame_checks"), pool=step_pool("frame_checks"),
             description="Shots start at frame 0, follow each other without gaps or overlaps, and end on the last frame.")
def shots_cover_film(context, storage: StorageResource) -> AssetCheckResult:
    products = _products(context, storage)
    shots = products.table("shots", "shots")
    return _result(shot_problems(shots, _frame_count(products)), shots=len(shots))


@asset_check(asset=AssetKey("frames"), partitions_def=film_partitions, blocking=True,
             op_tags=step_tags("frame_checks"), pool=step_pool("frame_checks"),
             description="Every image in the frames manifest exists in storage.")
def frames_files_exist(context, storage: StorageResource) -> AssetCheckResult:
    products = _products(context, storage)
    frames = products.table("frames")
    missing = [p for p in frames["path"] if not products.resolve(p).exists()]
    return _result([f"{len(missing)} missing files, e.g. {missing[0]}"] if missing else [], checked=len(frames))


@asset_check(asset=AssetKey("frames"), partitions_def=film_partitions, blocking=True,
             op_tags=step_tags("frame_checks"), pool=step_pool("frame_checks"),
             description="Frame indices are unique, increasing and inside the film; frame counts are sane.")
def frames_indices_and_counts(context, storage: StorageResource) -> AssetCheckResult:
    products = _products(context, storage)
    frames, shots = products.table("frames"), products.table("shots", "shots")
    n = _frame_count(products)
    return _result(frame_index_problems(frames, n) + count_problems(frames, shots, n), frames=len(frames))


@asset_check(asset=AssetKey("frames_processed"), partitions_def=film_partitions, blocking=True,
             op_tags=step_tags("frame_checks"), pool=step_pool("frame_checks"),
             description="Kept frames exist in storage, indices are unique and ordered, every dropped frame says why.")
def frames_processed_consistent(context, storage: StorageResource) -> AssetCheckResult:
    products = _products(context, storage)
    frames = products.table("frames_processed")
    kept = frames[frames["kept"]]
    problems = frame_index_problems(frames, _frame_count(products))
    missing = [p for p in kept["path"] if not products.resolve(p).exists()]
    if missing:
        problems.append(f"{len(missing)} kept frames missing, e.g. {missing[0]}")
    unexplained = int((~frames["kept"] & frames["drop_reason"].isna()).sum())
    if unexplained:
        problems.append(f"{unexplained} dropped frames without a reason")
    return _result(problems, kept=len(kept))


FRAME_CHECKS = [shots_cover_film, frames_files_exist, frames_indices_and_counts, frames_processed_consistent]
