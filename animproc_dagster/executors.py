"""The executor of every job, chosen by configuration so the same definitions run on one machine or many:
ANIMPROC_EXECUTOR=in_process | multiprocess | celery | k8s (unset: Dagster's default, one process per step).

celery: steps go to Celery workers through a Redis broker, each to the queue of its placement row
(`gpu` or `cpu`, resources/placement.py); workers start with `dagster-celery worker start -q gpu|cpu`.
k8s: each step is a Kubernetes Job with the pod spec of its placement row (the Helm chart's deployment).
"""
from __future__ import annotations

import os

from dagster import ExecutorDefinition, in_process_executor, multiprocess_executor

EXECUTOR_ENV = "ANIMPROC_EXECUTOR"
BROKER_ENV = "ANIMPROC_CELERY_BROKER"
BACKEND_ENV = "ANIMPROC_CELERY_BACKEND"
DEFAULT_BROKER = "redis://127.0.0.1:6379/0"
CHOICES = ("in_process", "multiprocess", "celery", "k8s")


def celery_config() -> dict:
    """The Celery executor's config, shared by the run (submitting steps) and the workers (deploy/celery)."""
    broker = os.environ.get(BROKER_ENV, DEFAULT_BROKER)
    return {
        "broker": broker,
        "backend": os.environ.get(BACKEND_ENV, broker),
        "config_source": {
            # a worker killed mid-step reports the task lost at once (WorkerLostError) instead of the run
            # waiting for a result that never comes; the run then fails and Dagster's run retry re-executes it
            "task_acks_late": False,
            "worker_prefetch_multiplier": 1,
            "broker_connection_retry_on_startup": True,
        },
    }


def executor_from_env() -> ExecutorDefinition | None:
    """The executor named by ANIMPROC_EXECUTOR; None keeps Dagster's default."""
    choice = os.environ.get(EXECUTOR_ENV, "").strip()
    if not choice:
        return None
    if choice == "in_process":
        return in_process_executor
    if choice == "multiprocess":
        return multiprocess_executor
    if choice == "celery":
        from dagster_celery import celery_executor

        return celery_executor.configured(celery_config(), name="celery")
    if choice == "k8s":
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor
    raise ValueError(f"{EXECUTOR_ENV}={choice!r} is not an executor; choose one of {', '.join(CHOICES)}")
