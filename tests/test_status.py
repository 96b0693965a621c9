"""`animproc run` output off a terminal, `animproc status FILM` (fresh, stale after a review change, failed after a
failing run, queued) and `animproc run --detach` through the run queue and the daemon, run as a user would."""
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cluster_helpers import _stop

ROOT = Path(__file__).resolve().parents[1]
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # anything but tab and newline


def _status(cli, film: str) -> dict[str, dict]:
    return {a["asset"]: a for a in json.loads(cli("status", film, "--json").stdout)["assets"]}


def test_run_off_a_terminal_prints_progress_lines_and_status_reports_fresh_then_failed(cli, tmp_path, cli_env,
                                                                                       sample_film):
    from dagster import AssetKey, AssetRecordsFilter, DagsterInstance

    cli("film", "add", "clip", str(sample_film[0]))
    run = cli("run", "clip", "--select", "vocals,frames")
    assert not CONTROL.search(run.stdout)
    assert re.search(r"shots_and_frames: decode \d+/912 frames \(\d+\.\d%\), [\d.]+ frames/s, ETA \d+ s", run.stdout)
    assert "shots_and_frames: decode 912/912 frames (100.0%)" in run.stdout and "vocals: separate" in run.stdout
    with DagsterInstance.from_config(cli_env["DAGSTER_HOME"]) as instance:
        record = instance.fetch_materializations(AssetRecordsFilter(asset_key=AssetKey("shots")), limit=1).records[0]
        decode = record.asset_materialization.metadata["progress"].value["decode"]
    assert decode["done"] == 912 and decode["finished"] and decode["rate"] > 0 and decode["unit"] == "frames"

    status = _status(cli, "clip")
    assert status["vocals"]["state"] == "fresh" and status["vocals"]["duration_s"] > 0
    assert status["shots"]["last_run"] and status["instances"]["state"] == "missing"
    assert status["vocals"]["now"] is None
    table = cli("status", "clip").stdout
    assert table.splitlines()[0].split()[:3] == ["asset", "materialised", "state"] and not CONTROL.search(table)

    for media in (tmp_path / "data" / "clip" / "source").glob("*.mp4"):
        media.unlink()  # it may be a hard link to the session's sample film: replaced, never written through
        media.write_bytes(b"not a video any more")
    failed = cli("run", "clip", "--select", "source_video", ok=False)
    assert failed.returncode != 0
    status = _status(cli, "clip")
    assert status["source_video"]["now"] == "failed" and status["source_video"]["materialised"]
    detail = status["source_video"]["detail"]
    assert detail.endswith("not a readable media file (Invalid data found when processing input)")
    assert "clip.mp4" in detail and "Failure" not in detail
    assert status["vocals"]["now"] is None


@pytest.mark.slow
def test_status_reports_stale_assets_after_a_review_change(cli, tmp_path, sample_film):
    from animproc.review.labels import load_review, save_review
    from animproc.storage import Storage

    (tmp_path / "configs" / "clip.yaml").write_text("review: auto\n")
    cli("film", "add", "clip", str(sample_film[0]))
    cli("run", "clip", "--select", "instances_filtered")
    assert _status(cli, "clip")["instances_filtered"]["state"] == "fresh"
    st = Storage(tmp_path / "data")
    review = load_review(st, "clip", "instances")
    first = sorted(review.decisions)[0]
    review.decisions[first]["keep"] = not review.decisions[first]["keep"]
    review.decided_by = "person"
    save_review(st, review, review.version)
    status = _status(cli, "clip")
    assert status["instance_review"]["state"] == "not reported"
    assert status["instances_filtered"]["state"] == "stale"
    assert status["instances_filtered"]["reason"] == "instance_review changed"
    assert status["instances"]["state"] == "fresh"


@pytest.mark.slow
def test_detached_run_waits_in_the_run_queue_and_finishes_with_the_daemon(cli, tmp_path, cli_env, sample_film):
    from dagster import DagsterInstance, DagsterRunStatus

    cli("film", "add", "clip", str(sample_film[0]))
    submitted = cli("run", "clip", "--select", "source_video", "--detach")
    run_id = submitted.stdout.strip().splitlines()[-1]
    assert not CONTROL.search(submitted.stdout)
    with DagsterInstance.from_config(cli_env["DAGSTER_HOME"]) as instance:
        run = instance.get_run_by_id(run_id)
        assert run.status == DagsterRunStatus.QUEUED and run.tags["dagster/partition"] == "clip"
    queued = _status(cli, "clip")["source_video"]
    assert queued["now"] == "queued" and run_id in queued["detail"] and "waits for the daemon" in queued["detail"]
    log = tmp_path / "daemon.log"
    daemon = subprocess.Popen([str(Path(sys.executable).parent / "dagster-daemon"), "run", "-w",
                               str(ROOT / "workspace.yaml")], cwd=tmp_path, env=cli_env, stdout=open(log, "w"),
                              stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.time() + 600
        with DagsterInstance.from_config(cli_env["DAGSTER_HOME"]) as instance:
            while not instance.get_run_by_id(run_id).is_finished:
                assert time.time() < deadline, log.read_text()[-3000:]
                time.sleep(2)
            assert instance.get_run_by_id(run_id).status == DagsterRunStatus.SUCCESS, log.read_text()[-3000:]
    finally:
        _stop(daemon)
    done = _status(cli, "clip")["source_video"]
    assert done["state"] == "fresh" and done["now"] is None and done["run_id"] == run_id
