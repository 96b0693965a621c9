"""Running a film's job on a test instance, as the CLI and the UI do."""
from dagster import DagsterInstance, Definitions

from partitions import add_film, films


def run_film(defs: Definitions, instance: DagsterInstance, film: str, **kwargs):
    """Register `film` if needed and execute the film job for its partition."""
    if film not in films(instance):
        add_film(instance, film)
    return defs.resolve_job_def("film_assets").execute_in_process(instance=instance, partition_key=film, **kwargs)
