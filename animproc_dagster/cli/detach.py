"""`animproc run FILM --detach`: the run goes to the instance's run queue, the path the UI and the sensors take,
so the queue's limits (runs at a time, one run per film) and the pools apply; the daemon launches it.

The run is submitted through Dagster's GraphQL API (the UI's `launchRun` mutation), run by the public
`dagster-graphql` command against the project's workspace: no private Dagster module is needed to build a
run that the daemon can load from the code location."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from animproc.errors import AnimprocError
from animproc_dagster.cli.common import PROJECT_ROOT

LOCATION = "animproc_dagster.definitions"  # the code location's name in workspace.yaml (its module)
REPOSITORY = "__repository__"  # the name Dagster gives the repository of a Definitions object
LAUNCH = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId status } }
    ... on Error { message }
  }
}
"""


class SubmitError(AnimprocError):
    pass


def _launch_params(job_name: str, film: str, selection, tags: dict) -> dict:
    all_tags = {**tags, "dagster/partition": film, "animproc/submitted_by": "animproc run --detach"}
    return {"selector": {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY, "jobName": job_name,
                         "assetSelection": [{"path": list(k.path)} for k in selection]},
            "runConfigData": {},
            "executionMetadata": {"tags": [{"key": k, "value": str(v)} for k, v in all_tags.items()]}}


def submit_run(instance, job_name: str, film: str, selection, tags: dict | None = None) -> str:
    """Submit the run of `selection` of `job_name` for `film` to the run coordinator (QueuedRunCoordinator in
    dagster.yaml: it waits as QUEUED until the daemon starts it). Returns the run id."""
    variables = json.dumps({"params": _launch_params(job_name, film, selection, tags or {})})
    with tempfile.TemporaryDirectory() as tmp:
        answer = Path(tmp) / "answer.json"
        cmd = [str(Path(sys.executable).with_name("dagster-graphql")), "-w", str(PROJECT_ROOT / "workspace.yaml"),
               "-t", LAUNCH, "-v", variables, "-o", str(answer)]
        env = {**os.environ, "DAGSTER_HOME": str(instance.root_directory)}
        done = subprocess.run(cmd, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True)
        if not answer.exists():
            raise SubmitError(f"dagster-graphql could not submit the run: {(done.stderr or done.stdout).strip()[-800:]}")
        result = json.loads(answer.read_text())
    launched = (result.get("data") or {}).get("launchRun") or {}
    if launched.get("__typename") != "LaunchRunSuccess":
        problem = launched.get("message") or result.get("errors") or launched
        raise SubmitError(f"the run queue refused the run ({launched.get('__typename')}): {problem}")
    return launched["run"]["runId"]
