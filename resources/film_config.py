"""Per-film settings from `{config_dir}/{film}.yaml` (ANIMPROC_CONFIG_DIR, default configs/projects)."""
import os

from dagster import ConfigurableResource
from pydantic import Field

from animproc.config import FilmConfig, load_film_config


class FilmConfigResource(ConfigurableResource):
    config_dir: str = Field(default_factory=lambda: os.environ.get("ANIMPROC_CONFIG_DIR", "configs/projects"))

    def load(self, film: str) -> tuple[FilmConfig, str | None]:
        config, path = load_film_config(self.config_dir, film)
        return config, str(path) if path else None
