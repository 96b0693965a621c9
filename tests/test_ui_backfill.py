"""Backfilling two films from the UI: `dagster dev` (webserver + daemon) receives the same GraphQL mutation
the UI's "Materialize > backfill" dialog sends, and the daemon runs both film partitions to completion."""
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from animproc.library import store_source
from animproc.storage import Storage
from cluster_helpers import _graphql
from media_helpers import detailed, write_video

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ["source_video", "shots", "frames", "frames_processed"]

LAUNCH = """mutation($params: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $params) {
  __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }"""
STATUS = """query($id: String!) { partitionBackfillOrError(backfillId: $id) {
  __typename ... on PartitionBackfill { status } } }"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_backfill_two_films_from_the_ui(tmp_path, sample_film):
    from dagster import DagsterInstance

    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(ROOT / "dagster.yaml", home / "dagster.yaml")
    env = {**os.environ, "DAGSTER_HOME": str(home), "ANIMPROC_DATA": str(tmp_path / "data"),
           "ANIMPROC_CONFIG_DIR": str(tmp_path / "configs")}
    st = Storage(tmp_path / "data")
    store_source(st, "sample", sample_film[0])
    clip = write_video(tmp_path / "clip.mp4", [detailed(1)] * 36 + [detailed(2)] * 36)
    store_source(st, "clip", clip)
    os.environ["DAGSTER_HOME"], saved = str(home), os.environ.get("DAGSTER_HOME")
    try:
        with DagsterInstance.get() as instance:
            instance.add_dynamic_partitions("film", ["sample", "clip"])
    finally:
        os.environ.pop("DAGSTER_HOME") if saved is None else os.environ.__setitem__("DAGSTER_HOME", saved)
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "dagster", "dev", "-w", "workspace.yaml", "-h", "127.0.0.1",
                               "-p", str(port)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                              stderr=open(tmp_path / "dagster_dev.log", "w"), start_new_session=True)
    try:
        deadline = time.time() + 180
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5)
                break
            except OSError:
                assert time.time() < deadline, (tmp_path / "dagster_dev.log").read_text()[-3000:]
                time.sleep(2)
        launched = _graphql(port, LAUNCH, {"params": {
            "partitionNames": ["sample", "clip"], "assetSelection": [{"path": [a]} for a in ASSETS],
            "title": "two films"}})["launchPartitionBackfill"]
        assert launched["__typename"] == "LaunchBackfillSuccess", launched
        status = None
        deadline = time.time() + 420
        while time.time() < deadline:
            status = _graphql(port, STATUS, {"id": launched["backfillId"]})["partitionBackfillOrError"]["status"]
            if status in ("COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"):
                break
            time.sleep(3)
        assert status in ("COMPLETED", "COMPLETED_SUCCESS"), (status, (tmp_path / "dagster_dev.log").read_text()[-3000:])
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
    for film in ("sample", "clip"):
        manifest = st.read_parquet(st.asset_dir(film, "frames_processed") / "manifest.parquet")
        assert manifest["kept"].any()
