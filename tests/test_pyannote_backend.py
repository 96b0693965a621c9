"""The pyannote diarizer backend, with a random-weight pipeline built from pyannote.audio's own classes and
loaded from a local folder through the resource, as a user's pipeline would be."""
import numpy as np
import pytest
from dagster import AssetKey, instance_for_test

from animproc.audio.diarize import SR, SpeechSegment, to_rttm
from animproc.errors import ModelError
from animproc.library import store_source
from animproc.models import Diarizer
from animproc.progress import ProgressReporter
from animproc.storage import Storage
from pyannote_helpers import write_random_pyannote_pipeline
from resources.diarizer import DiarizerResource


@pytest.fixture(scope="module")
def pipeline_dir(tmp_path_factory):
    return write_random_pyannote_pipeline(tmp_path_factory.mktemp("pyannote") / "community-1")


def test_pyannote_backend_loads_a_local_pipeline_and_returns_speech_segments(pipeline_dir):
    """No hub and no token: the folder's config.yaml names local model folders; the result is our segments
    table (times inside the audio, speaker_NN labels), and RTTM can be written from it."""
    diarizer = DiarizerResource(backend="pyannote", pyannote_pipeline=str(pipeline_dir), device="cpu").model()
    assert isinstance(diarizer, Diarizer)
    t = np.arange(SR * 12) / SR
    wav = (0.3 * np.sin(2 * np.pi * 180 * t) * (np.sin(2 * np.pi * 0.25 * t) > 0)).astype(np.float32)
    reports = []
    segments = diarizer(wav, progress=ProgressReporter(reports.append))
    assert diarizer.name == "pyannote"
    assert reports and all(r.task.startswith("diarize ") for r in reports)  # the pipeline's steps, as progress
    assert all(isinstance(s, SpeechSegment) and 0 <= s.start < s.end <= 12.01 for s in segments)
    assert all(s.speaker.startswith("speaker_") for s in segments)
    assert to_rttm(segments, "demo").count("SPEAKER") == len(segments)
    assert diarizer(np.zeros(SR // 4, np.float32)) == []


def test_pyannote_backend_errors_name_the_folder(tmp_path):
    with pytest.raises(ModelError, match="ANIMPROC_PYANNOTE_PIPELINE"):
        DiarizerResource(backend="pyannote", pyannote_pipeline=None).model()
    with pytest.raises(ModelError, match="config.yaml missing"):
        DiarizerResource(backend="pyannote", pyannote_pipeline=str(tmp_path)).model()
    (tmp_path / "config.yaml").write_text("pipeline:\n  name: pyannote.audio.pipelines.SpeakerDiarization\n"
                                          "  params:\n    segmentation: /nowhere/segmentation\n")
    with pytest.raises(ModelError, match="cannot load the pyannote pipeline"):
        DiarizerResource(backend="pyannote", pyannote_pipeline=str(tmp_path)).model()


def test_diarization_asset_runs_with_the_pyannote_backend(pipeline_dir, tmp_path, sample_film):
    from animproc_dagster.definitions import build_defs
    from dagster_helpers import run_film
    from resources.storage import StorageResource

    st = Storage(tmp_path / "data")
    store_source(st, "sample", sample_film[0])
    defs = build_defs(StorageResource(root=str(tmp_path / "data")),
                      diarizer=DiarizerResource(backend="pyannote", pyannote_pipeline=str(pipeline_dir), device="cpu"))
    with instance_for_test() as inst:
        result = run_film(defs, inst, "sample",
                          asset_selection=[AssetKey("source_video"), AssetKey("audio"), AssetKey("diarization")])
        assert result.success
    mats = {e.asset_key.to_user_string(): e.materialization.metadata for e in result.get_asset_materialization_events()}
    assert mats["diarization"]["backend"].value == "pyannote"
    assert (tmp_path / "data" / "sample" / "diarization" / "sample.rttm").exists()
