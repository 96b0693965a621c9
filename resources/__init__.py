"""Dagster resources: storage, film configs, and one module per model family. Every model resource hands out
its backend through one accessor, `model(config)`, typed with the family's Protocol (animproc.models); the
backend is chosen by an env var, weights come from local paths, and a missing or broken one raises ModelError."""
import os
from typing import Any

from pydantic import Field

from animproc.config import FilmConfig


def from_env(name: str, default: str | None = None) -> Any:
    """A resource setting read from environment variable `name` when the resource is built, so each
    environment chooses its storage, backends and weights without code changes."""
    return Field(default_factory=lambda: os.environ.get(name, default))


def film_config_or_default(config: FilmConfig | None) -> FilmConfig:
    """The film's config, or the defaults for a caller (a CLI command, a test) with no film at hand."""
    return config if config is not None else FilmConfig()
