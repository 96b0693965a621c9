"""Run the film job for one film, limited to the given assets, on the instance in DAGSTER_HOME with the executor
ANIMPROC_EXECUTOR names (the Celery executor sends the steps to workers). Prints the run id; exits 1 on failure.
    python tests/run_film_job.py FILM [ASSET ...]"""
import sys
from pathlib import Path

from dagster import AssetKey, DagsterInstance, execute_job
from dagster._core.definitions.reconstruct import ReconstructableRepository

from partitions import add_film, films

ROOT = Path(__file__).resolve().parents[1]


def main(film: str, assets: list[str]) -> int:
    job = ReconstructableRepository.for_module("animproc_dagster.definitions", "defs", str(ROOT)) \
        .get_reconstructable_job("film_assets")
    with DagsterInstance.get() as instance:
        if film not in films(instance):
            add_film(instance, film)
        result = execute_job(job, instance, tags={"dagster/partition": film},
                             asset_selection=[AssetKey(a) for a in assets] or None)
        print(f"run {result.run_id} {'succeeded' if result.success else 'failed'}", flush=True)
        return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
