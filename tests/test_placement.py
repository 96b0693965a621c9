"""The placement table is the one source of every step's k8s pod config, Celery queue and GPU pool."""
import pytest
from dagster_k8s.job import get_user_defined_k8s_config

from animproc_dagster.definitions import ASSETS
from assets.frame_checks import FRAME_CHECKS
from resources.placement import CELERY_QUEUE_TAG, GPU_RESOURCE, NODE_POOL_LABEL, PLACEMENTS, step_tags

STEPS = {d.op.name: d.op for d in [*ASSETS, *FRAME_CHECKS] if hasattr(d, "op")}  # AssetSpecs have no op
CHECK_OPS = {c.op.name for c in FRAME_CHECKS}


def _row(op_name: str) -> str:
    return "frame_checks" if op_name in CHECK_OPS else op_name


def test_every_step_carries_its_rows_tags_and_every_row_is_a_step():
    rows = {_row(name) for name in STEPS}
    assert rows == set(PLACEMENTS)
    for name, op in STEPS.items():
        row = _row(name)
        assert {k: op.tags[k] for k in step_tags(row)} == step_tags(row), name
        assert op.pool == ("gpu" if PLACEMENTS[row].device == "gpu" else None), name


def test_tags_parse_with_dagster_k8s_and_gpu_steps_get_a_gpu_on_a_gpu_node():
    gpu_steps = []
    for name, op in STEPS.items():
        k8s = get_user_defined_k8s_config(op.tags)
        resources = k8s.container_config["resources"]
        assert resources["requests"]["cpu"] and resources["requests"]["memory"], name
        if op.pool == "gpu":
            gpu_steps.append(name)
            assert int(resources["limits"][GPU_RESOURCE]) >= 1, name
            assert k8s.pod_spec_config["node_selector"] == {NODE_POOL_LABEL: "gpu"}, name
            assert any(t["key"] == GPU_RESOURCE for t in k8s.pod_spec_config["tolerations"]), name
            assert op.tags[CELERY_QUEUE_TAG] == "gpu", name
        else:
            assert GPU_RESOURCE not in resources["limits"], name
            assert op.tags[CELERY_QUEUE_TAG] == "cpu", name
    assert {"instances", "faces", "vocals", "diarization", "motion"} <= set(gpu_steps)


def test_a_step_without_a_row_is_refused_by_name():
    with pytest.raises(KeyError, match="'new_step' has no row"):
        step_tags("new_step")
