"""Where each step runs: one table, from which every asset's op tags come, so the Kubernetes pod specs
(`dagster-k8s/config`), the Celery queues (`dagster-celery/queue`) and the GPU pool cannot drift apart.

GPU steps (SAM2, LaMa, ArcFace, optical flow, the zero-shot VLM, Demucs, pyannote, the captioning VLM,
Stable Diffusion) get one GPU, a node
selector for GPU nodes and the toleration GPU node pools carry; CPU steps get requests sized to what they
decode or cluster. A step that is in no row is an error at import time, not a pod without limits.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

K8S_CONFIG_TAG = "dagster-k8s/config"
CELERY_QUEUE_TAG = "dagster-celery/queue"
GPU_POOL = "gpu"  # the Dagster concurrency pool of GPU steps: its limit is the number of GPUs (dagster.yaml)
GPU_RESOURCE = "nvidia.com/gpu"  # the NVIDIA device plugin's extended resource
NODE_POOL_LABEL = "animproc.io/node-pool"  # label the studio puts on its nodes: "gpu" or "cpu"
GPU_TOLERATIONS = ({"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"},)


@dataclass(frozen=True)
class Placement:
    """What one step needs: a device class, Kubernetes requests and limits, and its Celery queue."""
    device: str  # "gpu" or "cpu"
    cpu: str  # Kubernetes CPU request, e.g. "2" or "500m"
    memory: str  # memory request; the limit is the same (a step over it is OOM-killed, not swapped)
    gpus: int = 0
    tolerations: tuple[dict, ...] = field(default=())

    @property
    def queue(self) -> str:
        return self.device

    @property
    def pool(self) -> str | None:
        return GPU_POOL if self.device == "gpu" else None

    def k8s_config(self) -> dict:
        limits = {"memory": self.memory}
        if self.gpus:
            limits[GPU_RESOURCE] = str(self.gpus)
        config = {
            "container_config": {"resources": {"requests": {"cpu": self.cpu, "memory": self.memory},
                                               "limits": limits}},
            "pod_spec_config": {"node_selector": {NODE_POOL_LABEL: self.device}},
        }
        if self.tolerations:
            config["pod_spec_config"]["tolerations"] = [dict(t) for t in self.tolerations]
        return config


def _gpu(cpu: str = "4", memory: str = "16Gi") -> Placement:
    return Placement("gpu", cpu, memory, gpus=1, tolerations=GPU_TOLERATIONS)


def _cpu(cpu: str, memory: str) -> Placement:
    return Placement("cpu", cpu, memory)


PLACEMENTS: dict[str, Placement] = {  # step (op) name -> placement; pipeline order
    "source_video": _cpu("500m", "1Gi"),
    "shots_and_frames": _cpu("2", "6Gi"),  # one decode pass of the whole film: decode-bound
    "frames_processed": _cpu("2", "4Gi"),
    "frame_checks": _cpu("250m", "1Gi"),  # the blocking asset checks on shots, frames, frames_processed
    "instances": _gpu(memory="24Gi"),  # SAM2
    "instances_filtered": _cpu("1", "2Gi"),
    "instances_inpainted": _gpu(),  # LaMa
    "faces": _gpu(),  # face detector + ArcFace embeddings
    "identity_clusters": _cpu("2", "8Gi"),  # HDBSCAN / UMAP
    "characters": _cpu("1", "2Gi"),
    "pose_subclusters": _cpu("2", "4Gi"),
    "shot_structure": _cpu("2", "4Gi"),  # decodes every shot for global motion
    "motion": _gpu(),  # optical flow, action recognition
    "effects_catalog": _gpu(),  # zero-shot VLM over sampled frames
    "audio": _cpu("1", "2Gi"),
    "vocals": _gpu(),  # Demucs
    "diarization": _gpu(),  # pyannote
    "voice_features": _cpu("2", "4Gi"),
    "character_instances": _cpu("1", "2Gi"),  # identities carried along motion tracks
    "captions": _gpu(),  # Qwen2-VL
    "lora_dataset": _cpu("2", "4Gi"),
    "lora_evaluation": _gpu(memory="24Gi"),  # Stable Diffusion with each LoRA checkpoint
    "active_speakers": _gpu(),  # face detection + face mesh or an ASD model at 10 steps a second
    "character_voices": _cpu("1", "2Gi"),
    "av_sync": _cpu("1", "2Gi"),  # beat tracking on the accompaniment stem
}
PLACEMENTS.update({  # issue 14 products: joins of stored tables, image and audio bytes copied into shards
    "film_timeline": _cpu("1", "2Gi"),
    **{name: _cpu("1", "4Gi") for name in ("dataset_character_multimodal", "dataset_scene_understanding",
                                            "dataset_action_recognition", "dataset_emotion_analysis")},
    "datasets_all_films": _cpu("1", "4Gi"),
})


def placement(step: str) -> Placement:
    try:
        return PLACEMENTS[step]
    except KeyError:
        raise KeyError(f"step {step!r} has no row in resources/placement.py PLACEMENTS; add one") from None


def step_tags(step: str) -> dict[str, str]:
    """The op tags of `step`: its pod spec for the k8s executor and its queue for the Celery executor."""
    p = placement(step)
    return {K8S_CONFIG_TAG: json.dumps(p.k8s_config(), sort_keys=True), CELERY_QUEUE_TAG: p.queue}


def step_pool(step: str) -> str | None:
    """The concurrency pool of `step` ("gpu" for GPU steps, none for CPU steps)."""
    return placement(step).pool
