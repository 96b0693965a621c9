"""Dagster assets, one module per product."""
from dagster import Failure

from animproc.errors import AnimprocError


def fail(exc: AnimprocError) -> Failure:
    """A user-facing error (it names the file and the problem) as a Dagster failure that is not retried."""
    return Failure(description=str(exc), allow_retries=False)
