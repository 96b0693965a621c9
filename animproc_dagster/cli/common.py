"""What every verb uses: the Dagster home and instance, the storage, the catalogue, and the error line."""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _ensure_dagster_home() -> Path:
    """DAGSTER_HOME defaults to ./.dagster, seeded with the project's dagster.yaml."""
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(Path.cwd() / ".dagster"))).resolve()
    home.mkdir(parents=True, exist_ok=True)
    settings = home / "dagster.yaml"
    if not settings.exists() and (PROJECT_ROOT / "dagster.yaml").exists():
        shutil.copyfile(PROJECT_ROOT / "dagster.yaml", settings)
    return home


def _instance():
    _ensure_dagster_home()
    from dagster import DagsterInstance

    return DagsterInstance.get()


def _storage():
    from resources.storage import StorageResource

    return StorageResource().storage()


def _products(film: str):
    """The film's products, read through the catalogue."""
    from animproc.catalogue import FilmProducts

    return FilmProducts(_storage(), film)


def _fail(message: str) -> int:
    print(f"animproc: {message}", file=sys.stderr)
    return 2
