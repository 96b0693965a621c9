"""The one partitioning of every asset: by film."""
from dagster import DagsterInstance, DynamicPartitionsDefinition

from animproc.films import validate_film_key

FILM_PARTITIONS_NAME = "film"
film_partitions = DynamicPartitionsDefinition(name=FILM_PARTITIONS_NAME)


def add_film(instance: DagsterInstance, film: str) -> None:
    instance.add_dynamic_partitions(FILM_PARTITIONS_NAME, [validate_film_key(film)])


def remove_film(instance: DagsterInstance, film: str) -> None:
    instance.delete_dynamic_partition(FILM_PARTITIONS_NAME, film)


def films(instance: DagsterInstance) -> list[str]:
    return sorted(instance.get_dynamic_partitions(FILM_PARTITIONS_NAME))
