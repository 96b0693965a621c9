"""Errors a user can act on: each names the file and the problem."""
from __future__ import annotations

from pathlib import PurePath


class AnimprocError(Exception):
    """Base class for errors shown to users as they are."""


class MediaError(AnimprocError):
    """A media file cannot be used for what was asked of it."""

    def __init__(self, path: str | PurePath, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class ConfigError(AnimprocError):
    """A film config file is invalid."""

    def __init__(self, path: str | PurePath, problems: list[str]):
        self.path = str(path)
        self.problems = problems
        super().__init__(f"{self.path}: invalid film config:\n  " + "\n  ".join(problems))


class FilmKeyError(AnimprocError, ValueError):
    """A film name that cannot be used as a partition key."""


class ModelError(AnimprocError):
    """Model weights that cannot be loaded from the configured local path."""

    def __init__(self, path: str | PurePath, problem: str):
        self.path = str(path)
        super().__init__(f"{self.path}: {problem}")
