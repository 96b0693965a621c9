"""`animproc run FILM --detach`: the run goes to the instance's run queue, the path the UI and the sensors take,
so the queue's limits (runs at a time, one run per film) and the pools apply; the daemon launches it."""
from __future__ import annotations

from animproc_dagster.cli.common import PROJECT_ROOT

LOCATION = "animproc_dagster.definitions"  # the code location's name in workspace.yaml (its module)


def submit_run(instance, job_name: str, film: str, selection, tags: dict | None = None) -> str:
    """Create the run of `selection` of `job_name` for `film` from the workspace's code location and submit it
    to the run coordinator (QueuedRunCoordinator in dagster.yaml: it waits as QUEUED until the daemon starts
    it). Returns the run id."""
    from dagster._core.definitions.selector import JobSubsetSelector
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import WorkspaceFileTarget

    target = WorkspaceFileTarget(paths=[str(PROJECT_ROOT / "workspace.yaml")])
    with WorkspaceProcessContext(instance, target, code_server_log_level="WARNING") as process_context:
        workspace = process_context.create_request_context()
        location = workspace.get_code_location(LOCATION)
        repo = next(iter(location.get_repositories().values()))
        selector = JobSubsetSelector(location_name=location.name, repository_name=repo.name, job_name=job_name,
                                     op_selection=None, asset_selection=list(selection))
        remote_job = location.get_job(selector)
        plan = location.get_execution_plan(remote_job, {}, step_keys_to_execute=None, known_state=None,
                                           instance=instance).execution_plan_snapshot
        run = instance.create_run(
            job_name=job_name, run_id=None, run_config={}, resolved_op_selection=remote_job.resolved_op_selection,
            step_keys_to_execute=plan.step_keys_to_execute, op_selection=None, status=None, root_run_id=None,
            parent_run_id=None, tags={**remote_job.tags, **(tags or {}), "dagster/partition": film,
                                      "animproc/submitted_by": "animproc run --detach"},
            job_snapshot=remote_job.job_snapshot, execution_plan_snapshot=plan,
            parent_job_snapshot=remote_job.parent_job_snapshot, remote_job_origin=remote_job.get_remote_origin(),
            job_code_origin=remote_job.get_python_origin(), asset_selection=frozenset(selection),
            asset_check_selection=None, asset_graph=repo.asset_graph)
        return instance.submit_run(run.run_id, workspace).run_id
