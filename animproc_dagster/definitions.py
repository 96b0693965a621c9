"""The animproc code location."""
import warnings

from dagster import Definitions, PreviewWarning

warnings.filterwarnings("ignore", category=PreviewWarning)  # partitioned asset checks are "preview"

from animproc_dagster.executors import executor_from_env
from animproc_dagster.jobs import film_job, gate_jobs
from animproc_dagster.sensors import inbox_sensor, review_sensor
from assets.audio import audio, diarization, vocals, voice_features
from assets.datasets import DATASET_ASSETS
from assets.frame_checks import FRAME_CHECKS
from assets.frames import frames_processed, shots_and_frames, source_video
from assets.identities import characters, faces, identity_clusters, identity_review, pose_subclusters
from assets.identities import character_instances
from assets.instances import instance_review, instances, instances_filtered, instances_inpainted
from assets.temporal import effects_catalog, motion, shot_structure
from assets.multimodal import active_speakers, av_sync, character_voices
from assets.multimodal import voice_review
from resources.action_recognizer import ActionRecognizerResource
from resources.active_speaker import ActiveSpeakerResource
from resources.diarizer import DiarizerResource
from resources.face_analyzer import FaceAnalyzerResource
from resources.film_config import FilmConfigResource
from resources.inpainter import InpainterResource
from resources.optical_flow import OpticalFlowResource
from resources.pose_estimator import PoseEstimatorResource
from resources.segmenter import SegmenterResource
from resources.separator import SeparatorResource
from resources.shot_detector import ShotDetectorResource
from resources.storage import StorageResource
from resources.zero_shot import ZeroShotResource
from assets.training import captions, lora_dataset, lora_evaluation
from resources.captioner import CaptionerResource
from resources.image_generator import ImageGeneratorResource

ASSETS = [source_video, shots_and_frames, frames_processed, instances, instance_review, instances_filtered,
          instances_inpainted, faces, identity_clusters, identity_review, characters,
          pose_subclusters, shot_structure, motion, effects_catalog, audio, vocals, diarization, voice_features,
          character_instances, captions, lora_dataset, lora_evaluation,
          active_speakers, character_voices, av_sync]
ASSETS += [voice_review]  # the identity review's voice decisions, a gate part of their own
ASSETS += DATASET_ASSETS  # issue 14 products: film_timeline, the four datasets, datasets_all_films


def build_defs(storage: StorageResource | None = None, film_config: FilmConfigResource | None = None,
               shot_detector: ShotDetectorResource | None = None, diarizer: DiarizerResource | None = None,
               separator: SeparatorResource | None = None, segmenter: SegmenterResource | None = None,
               inpainter: InpainterResource | None = None,
               face_analyzer: FaceAnalyzerResource | None = None, optical_flow: OpticalFlowResource | None = None,
               pose_estimator: PoseEstimatorResource | None = None,
               action_recognizer: ActionRecognizerResource | None = None,
               zero_shot: ZeroShotResource | None = None, captioner: CaptionerResource | None = None,
               image_generator: ImageGeneratorResource | None = None,
               active_speaker: ActiveSpeakerResource | None = None) -> Definitions:
    """The code location with the given resources (defaults: from environment variables)."""
    return Definitions(
        assets=ASSETS,
        asset_checks=FRAME_CHECKS,
        jobs=[film_job, *gate_jobs.values()],
        sensors=[inbox_sensor, review_sensor],
        executor=executor_from_env(),
        resources={
            "storage": storage or StorageResource(),
            "film_config": film_config or FilmConfigResource(),
            "shot_detector": shot_detector or ShotDetectorResource(),
            "diarizer": diarizer or DiarizerResource(),
            "separator": separator or SeparatorResource(),
            "segmenter": segmenter or SegmenterResource(),
            "inpainter": inpainter or InpainterResource(),
            "face_analyzer": face_analyzer or FaceAnalyzerResource(),
            "optical_flow": optical_flow or OpticalFlowResource(),
            "pose_estimator": pose_estimator or PoseEstimatorResource(),
            "action_recognizer": action_recognizer or ActionRecognizerResource(),
            "zero_shot": zero_shot or ZeroShotResource(),
            "captioner": captioner or CaptionerResource(),
            "image_generator": image_generator or ImageGeneratorResource(),
            "active_speaker": active_speaker or ActiveSpeakerResource(),
        },
    )


defs = build_defs()
