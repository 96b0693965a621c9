"""Run the film job for one film, limited to the given assets, on the instance in DAGSTER_HOME with the executor
ANIMPROC_EXECUTOR names (the Celery executor sends the steps to workers). Prints the run id; exits 1 on failure.
    python tests/run_film_job.py FILM [ASSET ...]"""
import sys

from dagster import AssetKey, DagsterInstance, execute_job, reconstructable

from partitions import add_film, films


def film_job():
    """The film job of the definitions, named so that Celery workers can rebuild it (`reconstructable`)."""
    from animproc_dagster.definitions import defs

    return defs.resolve_job_def("film_assets")


def main(film: str, assets: list[str]) -> int:
    job = reconstructable(film_job)
    with DagsterInstance.get() as instance:
        if film not in films(instance):
            add_film(instance, film)
        result = execute_job(job, instance, tags={"dagster/partition": film},
                             asset_selection=[AssetKey(a) for a in assets] or None)
        print(f"run {result.run_id} {'succeeded' if result.success else 'failed'}", flush=True)
        return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
