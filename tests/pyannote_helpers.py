"""A random-weight pyannote.audio diarization pipeline written as a local folder the way a user's copy of
speaker-diarization-community-1 is laid out (config.yaml + segmentation/, embedding/, plda/)."""
from pathlib import Path

import numpy as np
import torch
import yaml


def _save(model, path: Path) -> None:
    import lightning

    checkpoint = {"state_dict": model.state_dict(), "hyper_parameters": dict(model.hparams),
                  "pytorch-lightning_version": lightning.__version__}
    model.on_save_checkpoint(checkpoint)  # pyannote's own versions, architecture and task specifications
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(checkpoint, path)


def write_random_pyannote_pipeline(folder: Path, seed: int = 0) -> Path:
    from pyannote.audio.core.task import Problem, Resolution, Specifications
    from pyannote.audio.models.embedding import WeSpeakerResNet34
    from pyannote.audio.models.segmentation import PyanNet

    torch.manual_seed(seed)
    segmentation = PyanNet(sincnet={"stride": 10}, lstm={"hidden_size": 16, "num_layers": 1, "bidirectional": True,
                                                         "monolithic": True, "dropout": 0.0},
                           linear={"hidden_size": 16, "num_layers": 1})
    segmentation.specifications = Specifications(
        problem=Problem.MONO_LABEL_CLASSIFICATION, resolution=Resolution.FRAME, duration=5.0, min_duration=5.0,
        warm_up=(0.0, 0.0), classes=[f"speaker#{i}" for i in range(3)], powerset_max_classes=2,
        permutation_invariant=True)
    segmentation.setup()
    _save(segmentation, folder / "segmentation" / "pytorch_model.bin")
    embedding = WeSpeakerResNet34()
    embedding.specifications = Specifications(problem=Problem.REPRESENTATION, resolution=Resolution.CHUNK, duration=5.0)
    embedding.setup()
    _save(embedding, folder / "embedding" / "pytorch_model.bin")
    rng = np.random.default_rng(seed)
    (folder / "plda").mkdir(parents=True, exist_ok=True)
    np.savez(folder / "plda" / "xvec_transform.npz", mean1=rng.normal(size=256), mean2=rng.normal(size=128),
             lda=rng.normal(size=(256, 128)))
    q, _ = np.linalg.qr(rng.normal(size=(128, 128)))
    np.savez(folder / "plda" / "plda.npz", mu=rng.normal(size=128), tr=q, psi=rng.uniform(0.5, 2.0, 128))
    config = {"version": "4.0.0",
              "pipeline": {"name": "pyannote.audio.pipelines.SpeakerDiarization",
                           "params": {"segmentation": str(folder / "segmentation"),
                                      "embedding": str(folder / "embedding"), "plda": str(folder / "plda"),
                                      "clustering": "AgglomerativeClustering", "embedding_batch_size": 8,
                                      "segmentation_batch_size": 8}},
              "params": {"segmentation": {"min_duration_off": 0.0},
                         "clustering": {"method": "centroid", "min_cluster_size": 2, "threshold": 0.7}}}
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    return folder
