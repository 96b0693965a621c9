"""The animproc code location."""
import warnings

from dagster import AssetSelection, Definitions, PreviewWarning, define_asset_job

warnings.filterwarnings("ignore", category=PreviewWarning)  # partitioned asset checks are "preview"

from animproc_dagster.sensors import inbox_sensor
from assets.audio import audio, diarization, vocals, voice_features
from assets.frame_checks import FRAME_CHECKS
from assets.frames import frames_processed, shots_and_frames, source_video
from partitions import film_partitions
from resources.diarizer import DiarizerResource
from resources.film_config import FilmConfigResource
from resources.separator import SeparatorResource
from resources.shot_detector import ShotDetectorResource
from resources.storage import StorageResource

ASSETS = [source_video, shots_and_frames, frames_processed, audio, vocals, diarization, voice_features]

film_job = define_asset_job("film_assets", selection=AssetSelection.all(), partitions_def=film_partitions,
                            description="Materialise every asset of one film.")



def build_defs(storage: StorageResource | None = None, film_config: FilmConfigResource | None = None,
               shot_detector: ShotDetectorResource | None = None, diarizer: DiarizerResource | None = None,
               separator: SeparatorResource | None = None) -> Definitions:
    """The code location with the given resources (defaults: from environment variables)."""
    return Definitions(
        assets=ASSETS,
        asset_checks=FRAME_CHECKS,
        jobs=[film_job],
        sensors=[inbox_sensor],
        resources={
            "storage": storage or StorageResource(),
            "film_config": film_config or FilmConfigResource(),
            "shot_detector": shot_detector or ShotDetectorResource(),
            "diarizer": diarizer or DiarizerResource(),
            "separator": separator or SeparatorResource(),
        },
    )


defs = build_defs()
