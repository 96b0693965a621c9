"""Loading an ONNX model file for a real backend: one place that checks the file, picks CUDA when asked and
present, and turns onnxruntime's many error types into a ModelError naming the file."""
from __future__ import annotations

from pathlib import Path

from animproc.errors import ModelError


def onnx_session(model_path: str | Path, device: str, what: str):
    """An onnxruntime InferenceSession of `model_path` (`what` names the model in errors); CUDA first when
    `device` is auto or cuda and onnxruntime has the CUDA provider."""
    import onnxruntime as ort

    path = Path(model_path)
    if not path.is_file():
        raise ModelError(path, f"{what} not found")
    providers = ["CPUExecutionProvider"]
    if device in ("auto", "cuda") and "CUDAExecutionProvider" in ort.get_available_providers():
        providers.insert(0, "CUDAExecutionProvider")
    try:
        return ort.InferenceSession(str(path), providers=providers)
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own types for bad files
        raise ModelError(path, f"not a loadable ONNX model ({exc})") from None
