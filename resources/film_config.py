"""Per-film settings from `{config_dir}/{film}.yaml` (ANIMPROC_CONFIG_DIR, default configs/projects)."""

from dagster import ConfigurableResource

from animproc.config import FilmConfig, load_film_config
from resources import from_env


class FilmConfigResource(ConfigurableResource):
    config_dir: str = from_env("ANIMPROC_CONFIG_DIR", "configs/projects")

    def load(self, film: str) -> tuple[FilmConfig, str | None]:
        config, path = load_film_config(self.config_dir, film)
        return config, str(path) if path else None
