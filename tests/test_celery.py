"""The Celery engine for real: redis-server as the broker, one worker per queue (`gpu`, `cpu`) as separate
processes started by deploy/celery/worker.sh, the storage root on a local S3 server. The film job's products
equal those of an in-process run of the same definitions."""
import pytest

from animproc.library import store_source
from animproc.storage import Storage
from cluster_helpers import (assert_same_products, celery_workers, cluster_env, products, redis_server,
                             run_film_job, s3_server, use_test_credentials, write_instance)

# Both queues, every kind of product (tables, images, audio stems, the auto review's decisions) and the
# blocking checks, in about a minute: the assets after `instances` add minutes and no new kind of step.
ASSETS = ["source_video", "shots", "frames", "frames_processed", "instances", "audio", "vocals"]


@pytest.mark.slow
def test_film_job_on_celery_workers_equals_the_in_process_run(tmp_path, sample_film, monkeypatch):
    use_test_credentials(monkeypatch)
    configs = tmp_path / "configs"
    configs.mkdir()
    (configs / "sample.yaml").write_text("review: auto\n")
    with s3_server() as endpoint, redis_server(tmp_path) as broker:
        roots = {"celery": "s3://films/celery", "in_process": "s3://films/in_process"}
        stores = {k: Storage(root, client_kwargs={"endpoint_url": endpoint}) for k, root in roots.items()}
        for st in stores.values():
            store_source(st, "sample", sample_film[0])
        envs = {}
        for executor, root in roots.items():
            write_instance(tmp_path / executor)
            envs[executor] = cluster_env(tmp_path / executor, root, endpoint, broker, configs, executor)
        reference = run_film_job(envs["in_process"], "sample", ASSETS, tmp_path / "in_process.log")
        assert reference.returncode == 0, (tmp_path / "in_process.log").read_text()[-4000:]
        with celery_workers(["gpu", "cpu"], envs["celery"], tmp_path) as workers:
            run = run_film_job(envs["celery"], "sample", ASSETS, tmp_path / "celery.log")
            assert run.returncode == 0, (tmp_path / "celery.log").read_text()[-4000:]
            assert all(p.poll() is None for p in workers.values())
        got, want = products(stores["celery"], "sample"), products(stores["in_process"], "sample")
    logs = {q: (tmp_path / f"worker-{q}.log").read_text() for q in ("gpu-0", "cpu-1")}
    run_log = (tmp_path / "celery.log").read_text()
    assert 'step "instances" to queue "gpu"' in run_log and 'step "shots_and_frames" to queue "cpu"' in run_log
    assert "Executing steps instances" in logs["gpu-0"] and "Executing steps shots_and_frames" in logs["cpu-1"]
    assert "reviews/instances.json" in want and any(k.endswith(".parquet") for k in want)
    assert_same_products(got, want)
