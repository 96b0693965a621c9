#!/usr/bin/env bash
# Start one Celery worker for one queue: deploy/celery/worker.sh gpu|cpu [extra celery worker args].
# A GPU machine runs `worker.sh gpu` (one process per GPU: --concurrency=1 with CUDA_VISIBLE_DEVICES set);
# a CPU machine runs `worker.sh cpu --concurrency=N`. Every worker needs the same environment as the run:
# DAGSTER_HOME (a dagster.yaml with Postgres storage, shared by all machines), ANIMPROC_DATA=s3://...,
# ANIMPROC_CELERY_BROKER (and _BACKEND), and the model paths of the resources.
set -euo pipefail
queue="${1:?usage: worker.sh gpu|cpu [celery worker args]}"; shift
: "${ANIMPROC_CELERY_BROKER:=redis://127.0.0.1:6379/0}"
: "${ANIMPROC_CELERY_BACKEND:=$ANIMPROC_CELERY_BROKER}"
export ANIMPROC_CELERY_BROKER ANIMPROC_CELERY_BACKEND ANIMPROC_EXECUTOR=celery
exec dagster-celery worker start -A dagster_celery.app -y "$(dirname "$0")/celery.yaml" -q "$queue" \
  -n "animproc-$queue-$$" -- --concurrency="${CONCURRENCY:-1}" "$@"
