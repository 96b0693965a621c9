"""Faults across machines: the Celery worker process running a GPU step is killed with SIGKILL while the step is
writing its product. The product stays whole (the previous version, not a half-written one), Dagster's run retry
re-executes the lost step, on the other GPU worker since the killed one's machine is gone, and the final products
equal a clean run's."""
import os
import re
import signal

import pytest
import yaml

from animproc.library import store_source
from animproc.storage import Storage
from cluster_helpers import (ROOT, assert_same_products, celery_workers, cluster_env, dagster_dev, launch_backfill,
                             products, redis_server, run_film_job, wait_until, write_instance)

UPSTREAM = ["source_video", "shots", "frames", "frames_processed", "instances"]


def _instance_yaml() -> str:
    """The repository's dagster.yaml (run queue, GPU pool, run retries), with run monitoring polled often
    enough that the GPU slot held by the killed step is freed within the test's time."""
    config = yaml.safe_load((ROOT / "dagster.yaml").read_text())
    config["run_monitoring"].update({"poll_interval_seconds": 5, "free_slots_after_run_end_seconds": 5})
    config.pop("telemetry", None)
    return yaml.safe_dump(config)


def _staging_writer(st: Storage, film: str, asset: str) -> int | None:
    """The pid in the name of `asset`'s staging folder once something has been written into it."""
    folder = st.film_dir(film) / ".staging"
    if not folder.exists():
        return None
    for entry in folder.iterdir():
        parts = entry.name.split("@")
        if len(parts) == 4 and parts[0] == asset and any(entry.rglob("*.png")):
            return int(parts[2])
    return None


@pytest.mark.slow
def test_killed_worker_leaves_no_half_product_and_the_retry_on_another_worker_matches_a_clean_run(
        tmp_path, sample_film):
    from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

    configs = tmp_path / "configs"  # no `review: auto`: the review sensor would start the next gate's run
    configs.mkdir()
    root = tmp_path / "data"
    st = Storage(root)
    store_source(st, "sample", sample_film[0])
    home = tmp_path / "home"
    write_instance(home, _instance_yaml())
    clean = run_film_job(cluster_env(home, str(root), "", None, configs, "in_process"), "sample", UPSTREAM,
                         tmp_path / "clean.log")
    assert clean.returncode == 0, (tmp_path / "clean.log").read_text()[-4000:]
    want = products(st, "sample")
    with redis_server(tmp_path) as broker:
        env = cluster_env(home, str(root), "", broker, configs, "celery")
        with celery_workers(["gpu", "gpu"], env, tmp_path) as workers, dagster_dev(env, tmp_path) as port:
            backfill = launch_backfill(port, ["sample"], ["instances"], "instances again")
            pid: list[int] = []
            wait_until(lambda: pid.append(_staging_writer(st, "sample", "instances")) or pid[-1],
                       "the instances step writing its staging folder", 240, tmp_path / "dagster_dev.log")
            victim = next(name for name, proc in workers.items() if os.getpgid(pid[-1]) == proc.pid)
            os.kill(pid[-1], signal.SIGKILL)
            visible = {k: v for k, v in products(st, "sample").items() if k.startswith("instances/")}
            assert_same_products(visible, {k: v for k, v in want.items() if k.startswith("instances/")})
            with DagsterInstance.from_config(str(home)) as instance:
                def runs():
                    return instance.get_runs(filters=RunsFilter(tags={"dagster/backfill": backfill}))

                wait_until(lambda: any(r.status == DagsterRunStatus.FAILURE for r in runs()),
                           "the run that lost its worker to fail", 120, tmp_path / "dagster_dev.log")
                os.killpg(workers[victim].pid, signal.SIGKILL)  # the killed worker's machine is gone
                wait_until(lambda: any(r.status == DagsterRunStatus.SUCCESS for r in runs()),
                           "the retried run to succeed", 600, tmp_path / "dagster_dev.log")
                failed = next(r for r in runs() if r.status == DagsterRunStatus.FAILURE)
                retried = next(r for r in runs() if r.status == DagsterRunStatus.SUCCESS)
                assert retried.parent_run_id == failed.run_id and retried.tags.get("dagster/retry_number") == "1"
                hosts = [e.dagster_event.engine_event_data.metadata["Celery worker"].value
                         for e in instance.all_logs(retried.run_id)
                         if e.dagster_event and e.dagster_event.message
                         and e.dagster_event.message.startswith("[CeleryExecutor] Executing steps instances")]
    survivor = next(name for name in workers if name != victim)
    assert hosts and all(re.search(rf"-{workers[survivor].pid}@", h) for h in hosts), (hosts, survivor)
    assert_same_products(products(st, "sample"), want)
    staging = st.film_dir("sample") / ".staging"
    assert not staging.exists() or not [p for p in staging.iterdir() if p.name.startswith("instances@")]
