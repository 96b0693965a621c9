"""Offline checks of the Kubernetes deployment (deploy/): the Job manifests dagster-k8s builds for a GPU step and
a CPU step are valid Kubernetes, the Helm values use only the official chart's documented keys, and
ANIMPROC_EXECUTOR picks the executor of the same definitions."""
import json
import re
import tomllib
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml
from dagster_k8s.job import DagsterK8sJobConfig, construct_dagster_k8s_job, get_user_defined_k8s_config
from kubernetes.client import ApiClient

from resources.placement import GPU_RESOURCE, NODE_POOL_LABEL, step_tags

ROOT = Path(__file__).resolve().parents[1]
VALUES = ROOT / "deploy" / "helm" / "values.yaml"
CHART_SCHEMA = Path(__file__).parent / "fixtures" / "dagster_helm_values_schema.json"
K8S_VERSION = "1.33.0"


def _step_job(step: str) -> dict:
    """The Job dagster-k8s's step handler would create for `step`, as the manifest sent to the API server."""
    values = yaml.safe_load(VALUES.read_text())
    deployment = values["dagster-user-deployments"]["deployments"][0]
    image = f"{deployment['image']['repository']}:{deployment['image']['tag']}".replace("REGISTRY", "registry.example")
    config = DagsterK8sJobConfig(job_image=image, dagster_home=values["global"]["dagsterHome"],
                                 image_pull_policy="IfNotPresent", instance_config_map="animproc-dagster-instance",
                                 postgres_password_secret=values["global"]["postgresqlSecretName"],
                                 env_secrets=[s["name"] for s in deployment["envSecrets"]])
    job = construct_dagster_k8s_job(
        config, args=["dagster", "api", "execute_step"], job_name=f"dagster-step-{step.replace('_', '-')}-0a1b2c",
        user_defined_k8s_config=get_user_defined_k8s_config(step_tags(step)), component="step_worker",
        labels={"dagster/job": "film_assets", "dagster/op": step},
        env_vars=[{"name": e["name"], "value": e["value"]} for e in deployment["env"]])
    return ApiClient().sanitize_for_serialization(job)


def _validate(manifest: dict) -> None:
    kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)


def test_gpu_step_job_is_valid_kubernetes_with_a_gpu_on_a_gpu_node():
    manifest = _step_job("instances")
    _validate(manifest)
    pod = manifest["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["resources"]["limits"][GPU_RESOURCE] == "1"
    assert pod["nodeSelector"] == {NODE_POOL_LABEL: "gpu"}
    assert pod["tolerations"] == [{"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}]
    assert {"name": "ANIMPROC_EXECUTOR", "value": "k8s"} in container["env"]


def test_cpu_step_job_is_valid_kubernetes_with_requests_and_no_gpu():
    manifest = _step_job("shots_and_frames")
    _validate(manifest)
    pod = manifest["spec"]["template"]["spec"]
    resources = pod["containers"][0]["resources"]
    assert resources["requests"] == {"cpu": "2", "memory": "6Gi"} and GPU_RESOURCE not in resources["limits"]
    assert pod["nodeSelector"] == {NODE_POOL_LABEL: "cpu"} and "tolerations" not in pod


def test_schema_check_refuses_a_broken_job():
    manifest = _step_job("instances")
    manifest["spec"]["template"]["spec"]["containers"][0]["resources"]["limit"] = {"cpu": "1"}  # misspelt
    with pytest.raises(kubernetes_validate.ValidationError):
        _validate(manifest)


def _chart_schema() -> dict:
    return json.loads(CHART_SCHEMA.read_text())


def test_helm_values_use_only_the_charts_documented_keys():
    values = yaml.safe_load(VALUES.read_text())
    jsonschema.validate(values, _chart_schema())
    queued = values["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    assert {"key": "dagster/partition", "value": {"applyLimitPerUniqueValue": True}, "limit": 1} \
        in queued["tagConcurrencyLimits"]
    env = {e["name"]: e["value"] for e in values["dagster-user-deployments"]["deployments"][0]["env"]}
    assert env["ANIMPROC_EXECUTOR"] == "k8s" and env["ANIMPROC_DATA"].startswith("s3://")
    assert values["runLauncher"]["type"] == "K8sRunLauncher" and values["postgresql"]["postgresqlHost"]


def test_helm_values_check_refuses_an_undocumented_key():
    values = yaml.safe_load(VALUES.read_text())
    values["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]["maxConcurentRuns"] = 3
    with pytest.raises(jsonschema.ValidationError, match="maxConcurentRuns"):
        jsonschema.validate(values, _chart_schema())


def test_dockerfile_copies_what_exists_and_installs_declared_extras():
    text = (ROOT / "deploy" / "Dockerfile").read_text()
    for source in re.findall(r"^COPY (\S+)", text, flags=re.M):
        for part in source.split():
            assert (ROOT / part).exists(), part
    declared = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    for wanted in re.findall(r'pip install "\.\[([^\]]+)\]"', text):
        assert {"k8s", "celery"} <= set(wanted.split(",")) and {"k8s", "celery"} <= declared


@pytest.mark.parametrize("choice,name", [("in_process", "in_process"), ("multiprocess", "multiprocess"),
                                         ("celery", "celery"), ("k8s", "k8s")])
def test_animproc_executor_chooses_the_executor_of_the_same_definitions(monkeypatch, choice, name):
    from animproc_dagster.definitions import build_defs

    monkeypatch.setenv("ANIMPROC_EXECUTOR", choice)
    job = build_defs().resolve_job_def("film_assets")
    assert job.executor_def.name == name


def test_an_unknown_executor_is_refused_with_the_choices(monkeypatch):
    from animproc_dagster.executors import executor_from_env

    monkeypatch.setenv("ANIMPROC_EXECUTOR", "spark")
    with pytest.raises(ValueError, match="in_process, multiprocess, celery, k8s"):
        executor_from_env()
