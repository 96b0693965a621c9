"""One model-resource contract: every model resource hands out its backend through `model(config)`, typed with
its family's Protocol, and the face resource's detector is the one every face detection of the platform uses."""
import importlib
import inspect
import pkgutil
import typing

import numpy as np
import pytest
from dagster import AssetKey, ConfigurableResource, instance_for_test

import animproc.models
import resources
from animproc.config import FilmConfig
from animproc.errors import ModelError
from animproc.identity.faces import ScrfdDetector
from animproc.image.faces import CenterFaceDetector
from animproc.library import store_source
from animproc.storage import Storage
from animproc.temporal.zero_shot import NoConfirmer, confirm_events
from dagster_helpers import run_film
from onnx_helpers import write_random_buffalo_pack

NOT_MODELS = {"StorageResource", "FilmConfigResource"}
BACKEND_VARS = ["ANIMPROC_SHOT_DETECTOR", "ANIMPROC_DIARIZER", "ANIMPROC_SEPARATOR", "ANIMPROC_SEGMENTER",
                "ANIMPROC_INPAINTER", "ANIMPROC_FACE_ANALYZER", "ANIMPROC_OPTICAL_FLOW", "ANIMPROC_POSE_ESTIMATOR",
                "ANIMPROC_RTMPOSE_MODEL", "ANIMPROC_ACTION_RECOGNIZER", "ANIMPROC_ZERO_SHOT", "ANIMPROC_CLIP_MODEL",
                "ANIMPROC_CAPTIONER", "ANIMPROC_QWEN2VL_MODEL", "ANIMPROC_BASE_MODEL",
                "ANIMPROC_ACTIVE_SPEAKER"]
PROTOCOLS = {obj for _, obj in inspect.getmembers(animproc.models, inspect.isclass)
             if getattr(obj, "_is_protocol", False) and obj.__module__ == "animproc.models"}


def _model_resources() -> list[type]:
    found = []
    for info in pkgutil.iter_modules(resources.__path__):
        module = importlib.import_module(f"resources.{info.name}")
        found += [cls for _, cls in inspect.getmembers(module, inspect.isclass)
                  if issubclass(cls, ConfigurableResource) and cls.__module__ == module.__name__
                  and cls.__name__ not in NOT_MODELS]
    return found


def _public_methods(cls: type) -> set[str]:
    return {name for name, value in vars(cls).items() if callable(value) and not name.startswith("_")}


def test_there_is_a_resource_for_every_model_family():
    assert len(_model_resources()) == 13
    returned = {typing.get_type_hints(cls.model)["return"] for cls in _model_resources()}
    assert returned == PROTOCOLS - {animproc.models.FaceDetector}  # the detector comes with the face analyzer


@pytest.mark.parametrize("cls", _model_resources(), ids=lambda c: c.__name__)
def test_every_model_resource_has_the_one_accessor_and_its_default_meets_the_protocol(cls, monkeypatch):
    for name in BACKEND_VARS:
        monkeypatch.delenv(name, raising=False)
    protocol = typing.get_type_hints(cls.model)["return"]
    assert protocol in PROTOCOLS and typing.runtime_checkable(protocol) is protocol
    assert _public_methods(cls) - {"prompts"} == {"model"}  # the inpainter's prompts are data, not a model
    backend = cls().model(FilmConfig())
    assert isinstance(backend, protocol) and isinstance(backend.name, str)
    assert isinstance(cls().model(), protocol)  # the CLI and tests have no film: the defaults apply


def test_the_face_analyzer_carries_its_detector_at_the_films_threshold(tmp_path):
    from resources.face_analyzer import FaceAnalyzerResource

    config = FilmConfig.model_validate({"identities": {"face_threshold": 0.6}})
    embedded = FaceAnalyzerResource(backend="embedded").model(config)
    assert isinstance(embedded.detector, animproc.models.FaceDetector)
    assert isinstance(embedded.detector, CenterFaceDetector) and embedded.detector.threshold == 0.6
    pack = write_random_buffalo_pack(tmp_path / "buffalo_l")
    insight = FaceAnalyzerResource(backend="insightface", insightface_pack=str(pack), device="cpu").model(config)
    assert isinstance(insight, animproc.models.FaceAnalyzer)
    assert isinstance(insight.detector, ScrfdDetector) and insight.detector.threshold == 0.6
    image = np.zeros((360, 640, 3), np.uint8)
    image[100:200, 300:400] = 255
    boxes = [f.box for f in insight.detector(image)]
    assert boxes and boxes == [f.box for f in insight(image)]  # detection alone finds what the analyzer does
    assert all(len(f.landmarks) == 5 for f in insight.detector(image))


def test_backends_that_judge_nothing_leave_effects_unconfirmed():
    events = [{"type": "snow", "peak_frame": 1}, {"type": "glow", "peak_frame": 7}]
    confirm_events(events, {1: np.zeros((8, 8, 3), np.uint8)}, NoConfirmer())
    assert [e["confirmation"] for e in events] == [None, None]


def test_a_missing_model_path_is_a_model_error_for_every_family_that_needs_one():
    from resources.action_recognizer import ActionRecognizerResource
    from resources.active_speaker import ActiveSpeakerResource
    from resources.diarizer import DiarizerResource
    from resources.face_analyzer import FaceAnalyzerResource
    from resources.inpainter import InpainterResource
    from resources.optical_flow import OpticalFlowResource
    from resources.pose_estimator import PoseEstimatorResource
    from resources.segmenter import SegmenterResource
    from resources.separator import SeparatorResource
    from resources.zero_shot import ZeroShotResource

    for resource in [ActionRecognizerResource(backend="torchvision", checkpoint=None),
                     ActiveSpeakerResource(backend="onnx", model_path=None),
                     DiarizerResource(backend="pyannote", pyannote_pipeline=None),
                     FaceAnalyzerResource(backend="insightface", insightface_pack=None),
                     InpainterResource(backend="lama", lama_model=None), InpainterResource(backend="sd", sd_model=None),
                     OpticalFlowResource(backend="raft", raft_checkpoint=None),
                     PoseEstimatorResource(backend="rtmpose", rtmpose_model=None),
                     SegmenterResource(backend="sam2", sam2_checkpoint=None),
                     SeparatorResource(backend="demucs", demucs_model=None),
                     ZeroShotResource(backend="clip", clip_model=None)]:
        with pytest.raises(ModelError, match="ANIMPROC_"):
            resource.model(FilmConfig())


@pytest.mark.slow
def test_the_face_analyzer_setting_picks_the_detector_of_the_segmenter_and_the_temporal_scans(
        tmp_path, sample_film, monkeypatch):
    """With ANIMPROC_FACE_ANALYZER=insightface, the instances asset (segmentation seeds) and the shot-structure
    and motion scans run the insightface pack's detector, and CenterFace never runs."""
    from animproc_dagster.definitions import build_defs
    from resources.film_config import FilmConfigResource
    from resources.storage import StorageResource

    pack = write_random_buffalo_pack(tmp_path / "buffalo_l")
    monkeypatch.setenv("ANIMPROC_FACE_ANALYZER", "insightface")
    monkeypatch.setenv("ANIMPROC_INSIGHTFACE_PACK", str(pack))
    monkeypatch.setenv("ANIMPROC_DEVICE", "cpu")
    calls: dict[str, int] = {"insightface": 0, "centerface": 0}

    def counting(cls):
        original = cls.__call__

        def call(self, image):
            calls[self.name] += 1
            return original(self, image)
        return call

    monkeypatch.setattr(ScrfdDetector, "__call__", counting(ScrfdDetector))
    monkeypatch.setattr(CenterFaceDetector, "__call__", counting(CenterFaceDetector))
    path, _ = sample_film
    st = Storage(tmp_path / "data")
    store_source(st, "sample", path)
    defs = build_defs(StorageResource(root=str(tmp_path / "data")), FilmConfigResource(config_dir=str(tmp_path)))
    with instance_for_test() as inst:
        keys = [AssetKey(k) for k in ("source_video", "shots", "frames", "frames_processed")]
        assert run_film(defs, inst, "sample", asset_selection=keys).success
        assert calls == {"insightface": 0, "centerface": 0}
        for asset in ("instances", "shot_structure", "motion"):
            before = calls["insightface"]
            assert run_film(defs, inst, "sample", asset_selection=[AssetKey(asset)]).success
            assert calls["insightface"] > before, asset
    assert calls["centerface"] == 0
