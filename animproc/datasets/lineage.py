"""What every dataset row says about where it came from: the film, the data version of every product it was
built from (the same content hash Dagster records, `product_version`), the review file versions, and the name and
licence of every model whose output is a column. Users training commercial models need the last one; the
licence is each backend's own `licence` attribute, looked up from the backend the resource is set to without
loading any weights."""
from __future__ import annotations

import importlib
import json
from dataclasses import dataclass, field

from animproc.product_version import product_version

# family -> backend setting of its resource -> backend class (module:attribute)
BACKENDS = {
    "face_analyzer": {"embedded": "animproc.identity.faces:EmbeddedFaceAnalyzer",
                      "insightface": "animproc.identity.faces:InsightFaceAnalyzer"},
    "segmenter": {"embedded": "animproc.instances.segment:EmbeddedSegmenter",
                  "sam2": "animproc.instances.segment:Sam2Segmenter"},
    "inpainter": {"opencv": "animproc.instances.inpaint:OpenCVInpainter",
                  "lama": "animproc.instances.inpaint:LamaInpainter", "sd": "animproc.instances.inpaint:DiffusersInpainter"},
    "diarizer": {"embedded": "animproc.audio.diarize:EmbeddedDiarizer",
                 "pyannote": "animproc.audio.diarize:PyannoteDiarizer"},
    "separator": {"embedded": "animproc.audio.separate:EmbeddedSeparator",
                  "demucs": "animproc.audio.separate:DemucsSeparator"},
    "optical_flow": {"dis": "animproc.temporal.flow:DisFlow", "raft": "animproc.temporal.flow:RaftFlow"},
    "action_recognizer": {"heuristic": "animproc.temporal.actions:HeuristicActionRecognizer",
                          "torchvision": "animproc.temporal.actions:VideoActionRecognizer"},
    "shot_detector": {"default": "animproc.video.scan:DefaultShotDetectors",
                      "transnetv2": "animproc.video.transnet:TransNetV2Detectors"},
}
VOICE_FEATURES = {"family": "voice_features", "model": "pYIN + MFCC (librosa) and a heuristic tone estimate",
                  "licence": "ISC (librosa); no learned weights"}
UNKNOWN = "unknown (the backend states no licence)"


def model_entry(family: str, backend: str) -> dict:
    """Name and licence of the backend a resource is set to (the class's attributes; nothing is loaded)."""
    target = BACKENDS.get(family, {}).get(backend)
    if target is None:
        return {"family": family, "model": backend, "licence": UNKNOWN}
    module, attribute = target.split(":")
    cls = getattr(importlib.import_module(module), attribute)
    return {"family": family, "model": getattr(cls, "name", backend), "licence": getattr(cls, "licence", UNKNOWN)}


@dataclass
class Lineage:
    film: str
    source_versions: dict[str, str] = field(default_factory=dict)  # product -> data version
    review_versions: dict[str, int | None] = field(default_factory=dict)  # review kind -> file version
    models: list[dict] = field(default_factory=list)  # {"columns", "family", "model", "licence"}

    def columns(self) -> dict[str, str]:
        """The lineage columns every row carries (JSON text, so any Parquet reader gets them)."""
        return {"film": self.film, "source_versions": json.dumps(self.source_versions, sort_keys=True),
                "review_versions": json.dumps(self.review_versions, sort_keys=True),
                "models": json.dumps(self.models)}


def source_versions(products, names) -> dict[str, str]:
    """The data version of every product in `names` the film has (its content hash, as Dagster records it)."""
    return {n: product_version(products.storage, products.film, n) for n in sorted(names)
            if products.folder(n).exists()}


def review_versions(products, kinds=("instances", "identities")) -> dict[str, int | None]:
    out = {}
    for kind in kinds:
        review = products.review(kind)
        out[kind] = None if review is None else review.version
    return out


def models_for(columns: dict[str, list[str]], configured: dict[str, str]) -> list[dict]:
    """For each family whose output is a column (`columns`: family -> the columns it produced), its model."""
    out = []
    for family, cols in columns.items():
        entry = VOICE_FEATURES if family == "voice_features" else model_entry(family, configured.get(family, "?"))
        out.append({"columns": cols, **entry})
    return out
