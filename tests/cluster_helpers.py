"""Local stand-ins for a studio's cluster, each a real server started as a process on 127.0.0.1 and stopped
afterwards: Redis (the Celery broker), a moto S3 server (the storage root), Celery workers (deploy/celery), and
film job runs in their own process with the executor ANIMPROC_EXECUTOR names."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
BUCKET = "films"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen, grace: float = 20) -> None:
    """SIGTERM the process group, SIGKILL what is left after `grace` seconds."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=grace)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def _wait_for(check, what: str, timeout: float, log: Path | None = None) -> None:
    deadline = time.time() + timeout
    while not check():
        if time.time() > deadline:
            tail = log.read_text()[-3000:] if log and log.exists() else ""
            raise TimeoutError(f"{what} did not come up in {timeout:.0f} s\n{tail}")
        time.sleep(0.3)


@contextmanager
def redis_server(folder: Path) -> Iterator[str]:
    """A throwaway redis-server on a free port; yields its URL without a database number."""
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.skip("redis-server is not installed (.ci/run installs it)")
    port = free_port()
    log = folder / "redis.log"
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(folder)], stdout=open(log, "w"), stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        import redis

        def up() -> bool:
            try:
                return redis.Redis(host="127.0.0.1", port=port, socket_timeout=1).ping()
            except redis.exceptions.ConnectionError:
                return False

        _wait_for(up, "redis-server", 30, log)
        yield f"redis://127.0.0.1:{port}"
    finally:
        _stop(proc)


@contextmanager
def s3_server() -> Iterator[str]:
    """A moto S3 server with the bucket `films`; yields its endpoint URL."""
    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # a line per request otherwise

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="testing", aws_secret_access_key="testing",
                     region_name="us-east-1").create_bucket(Bucket=BUCKET)
        yield endpoint
    finally:
        server.stop()


def use_test_credentials(monkeypatch) -> None:
    """The moto server's credentials for this process's own reads of the S3 root."""
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)


def cluster_env(home: Path, root: str, endpoint: str, broker: str | None, config_dir: Path,
                executor: str) -> dict[str, str]:
    """One environment for runs and workers alike (as on every machine of a deployment): no ANIMPROC_* setting
    leaks in from the caller's environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANIMPROC_")}
    env.update({
        "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}", "PYTHONPATH": str(ROOT), "DAGSTER_HOME": str(home),
        "ANIMPROC_DATA": root, "ANIMPROC_S3_ENDPOINT_URL": endpoint, "ANIMPROC_CONFIG_DIR": str(config_dir),
        "ANIMPROC_EXECUTOR": executor, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1", "OMP_NUM_THREADS": "1"})
    if broker:
        env.update({"ANIMPROC_CELERY_BROKER": f"{broker}/0", "ANIMPROC_CELERY_BACKEND": f"{broker}/1"})
    return env


@contextmanager
def celery_workers(queues: list[str], env: dict[str, str], folder: Path) -> Iterator[dict[str, subprocess.Popen]]:
    """One `deploy/celery/worker.sh QUEUE` process per entry (a queue may repeat), each in its own process group;
    yields them by name ("gpu-0", "cpu-1", ...) once every worker reports ready."""
    workers: dict[str, subprocess.Popen] = {}
    try:
        for i, queue in enumerate(queues):
            name = f"{queue}-{i}"
            log = folder / f"worker-{name}.log"
            workers[name] = subprocess.Popen(
                [str(ROOT / "deploy" / "celery" / "worker.sh"), queue, "--without-gossip", "--without-mingle"],
                cwd=ROOT, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True)
        for name, proc in workers.items():
            log = folder / f"worker-{name}.log"
            _wait_for(lambda: proc.poll() is not None or (log.exists() and " ready." in log.read_text()),
                      f"celery worker {name}", 120, log)
            assert proc.poll() is None, log.read_text()[-3000:]
        yield workers
    finally:
        for proc in workers.values():
            _stop(proc)


def run_film_job(env: dict[str, str], film: str, assets: list[str], log: Path,
                 timeout: float = 900) -> subprocess.CompletedProcess:
    """`tests/run_film_job.py` in its own process: the film job for `film`, limited to `assets`."""
    with open(log, "w") as out:
        return subprocess.run([sys.executable, str(ROOT / "tests" / "run_film_job.py"), film, *assets], cwd=ROOT,
                              env=env, stdout=out, stderr=subprocess.STDOUT, timeout=timeout)


def write_instance(home: Path, extra: str = "") -> None:
    """A persistent instance (SQLite under `home`) that every process of the test shares, its databases created
    here once: processes starting together on a fresh one race to create them (two alembic heads)."""
    from dagster import DagsterInstance

    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n" + extra)
    with DagsterInstance.from_config(str(home)) as instance:
        instance.get_runs(limit=1)


def products(st, film: str) -> dict[str, object]:
    """Every product file of `film` (its stored source and staging left out), keyed by path under the film: a
    table as its DataFrame, JSON parsed (the review's save time dropped), any other file as its bytes."""
    import hashlib
    import json

    import pandas as pd

    base = st.film_dir(film)
    out: dict[str, object] = {}
    for path in sorted(base.rglob("*"), key=str):
        rel = str(path).removeprefix(str(base)).lstrip("/")
        if rel.startswith(("source/", ".staging")) or not path.is_file():
            continue
        data = path.read_bytes()
        if rel.endswith(".parquet"):
            import io

            out[rel] = pd.read_parquet(io.BytesIO(data))
        elif rel.endswith(".json"):
            doc = json.loads(data)
            if isinstance(doc, dict):
                doc.pop("saved_at", None)
            out[rel] = doc
        else:
            out[rel] = hashlib.sha256(data).hexdigest()
    return out


def assert_same_products(got: dict[str, object], want: dict[str, object]) -> None:
    import pandas as pd

    assert sorted(got) == sorted(want)
    for rel, value in want.items():
        if isinstance(value, pd.DataFrame):
            pd.testing.assert_frame_equal(got[rel], value, obj=rel)
        else:
            assert got[rel] == value, rel


BACKFILL = """mutation($params: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $params) {
  __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }"""


def _graphql(port: int, query: str, variables: dict) -> dict:
    import json
    import urllib.request

    req = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", method="POST",
                                 data=json.dumps({"query": query, "variables": variables}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read())["data"]


@contextmanager
def dagster_dev(env: dict[str, str], folder: Path) -> Iterator[int]:
    """`dagster dev` (webserver + daemon: run queue, backfills, run retries) on a free port; yields the port."""
    import urllib.request

    port = free_port()
    log = folder / "dagster_dev.log"
    proc = subprocess.Popen([sys.executable, "-m", "dagster", "dev", "-w", "workspace.yaml", "-h", "127.0.0.1",
                             "-p", str(port)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=open(log, "w"), start_new_session=True)

    def up() -> bool:
        assert proc.poll() is None, log.read_text()[-3000:]
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5)
            return True
        except OSError:
            return False

    try:
        _wait_for(up, "dagster dev", 240, log)
        yield port
    finally:
        _stop(proc, grace=30)


def launch_backfill(port: int, films: list[str], assets: list[str], title: str) -> str:
    """What the UI's "Materialize > backfill" dialog sends; returns the backfill id."""
    launched = _graphql(port, BACKFILL, {"params": {
        "partitionNames": films, "assetSelection": [{"path": [a]} for a in assets], "title": title}})
    result = launched["launchPartitionBackfill"]
    assert result["__typename"] == "LaunchBackfillSuccess", result
    return result["backfillId"]


def wait_until(check, what: str, timeout: float, log: Path | None = None) -> None:
    _wait_for(check, what, timeout, log)
