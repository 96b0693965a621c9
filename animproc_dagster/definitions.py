"""The animproc code location."""
from dagster import AssetSelection, Definitions, define_asset_job

from animproc_dagster.sensors import inbox_sensor
from assets.frame_checks import FRAME_CHECKS
from assets.frames import frames_processed, shots_and_frames, source_video
from partitions import film_partitions
from resources.film_config import FilmConfigResource
from resources.shot_detector import ShotDetectorResource
from resources.storage import StorageResource

ASSETS = [source_video, shots_and_frames, frames_processed]

film_job = define_asset_job("film_assets", selection=AssetSelection.all(), partitions_def=film_partitions,
                            description="Materialise every asset of one film.")

defs = Definitions(
    assets=ASSETS,
    asset_checks=FRAME_CHECKS,
    jobs=[film_job],
    sensors=[inbox_sensor],
    resources={
        "storage": StorageResource(),
        "film_config": FilmConfigResource(),
        "shot_detector": ShotDetectorResource(),
    },
)
