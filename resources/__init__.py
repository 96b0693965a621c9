"""Dagster resources: storage, film configs, and one module per model family."""
import os
from typing import Any

from pydantic import Field


def from_env(name: str, default: str | None = None) -> Any:
    """A resource setting read from environment variable `name` when the resource is built, so each
    environment chooses its storage, backends and weights without code changes."""
    return Field(default_factory=lambda: os.environ.get(name, default))
