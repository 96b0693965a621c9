"""A catalogue backfill through Dagster's run queue (the repository's dagster.yaml, as `make ui` uses it): three
films backfilled, two of them twice, under `max_concurrent_runs`, one run per film at a time
(`dagster/partition` tag limit) and one GPU step at a time (the `gpu` pool). The limits are checked from the
run records and step events the instance keeps, not from timing."""
import shutil

import pytest

from animproc.library import store_source
from animproc.storage import Storage
from cluster_helpers import ROOT, cluster_env, dagster_dev, launch_backfill, wait_until
from media_helpers import detailed, write_video

FILMS = ["alpha", "bravo", "charlie"]
ASSETS = ["source_video", "shots", "frames", "audio", "vocals"]  # vocals: a GPU-pool step


def _most_at_once(spans: list[tuple[float, float]]) -> int:
    edges = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans], key=lambda x: (x[0], x[1]))
    now = most = 0
    for _, step in edges:
        now += step
        most = max(most, now)
    return most


@pytest.mark.slow
def test_backfill_of_three_films_holds_the_run_queue_limits(tmp_path):
    import yaml
    from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter

    home = tmp_path / "home"
    home.mkdir()
    shutil.copyfile(ROOT / "dagster.yaml", home / "dagster.yaml")
    limits = yaml.safe_load((ROOT / "dagster.yaml").read_text())["concurrency"]
    root = tmp_path / "data"
    st = Storage(root)
    for k, film in enumerate(FILMS):
        store_source(st, film, write_video(tmp_path / f"{film}.mp4", [detailed(k)] * 30 + [detailed(k + 5)] * 30))
    (tmp_path / "configs").mkdir()
    env = cluster_env(home, str(root), "", None, tmp_path / "configs", "in_process")
    with DagsterInstance.from_config(str(home)) as instance:
        instance.add_dynamic_partitions("film", FILMS)
    with dagster_dev(env, tmp_path) as port:
        backfills = [launch_backfill(port, FILMS, ASSETS, "catalogue"),
                     launch_backfill(port, FILMS[:2], ASSETS, "catalogue again")]
        with DagsterInstance.from_config(str(home)) as instance:
            def records():
                return [r for b in backfills
                        for r in instance.get_run_records(filters=RunsFilter(tags={"dagster/backfill": b}))]

            wait_until(lambda: len(records()) == 5 and all(r.dagster_run.is_finished for r in records()),
                       "five backfill runs to finish", 900, tmp_path / "dagster_dev.log")
            runs = records()
            gpu_spans = []
            for r in runs:
                run_id = r.dagster_run.run_id
                starts, ends = ({e.step_key: e.timestamp for e in instance.all_logs(run_id, of_type=kind)}
                                for kind in (DagsterEventType.STEP_START, DagsterEventType.STEP_SUCCESS))
                gpu_spans.append((starts["vocals"], ends["vocals"]))
    assert all(r.dagster_run.status == DagsterRunStatus.SUCCESS for r in runs)
    spans = {r.dagster_run.run_id: (r.start_time, r.end_time) for r in runs}
    assert _most_at_once(list(spans.values())) <= limits["runs"]["max_concurrent_runs"]
    for film in FILMS:
        of_film = [spans[r.dagster_run.run_id] for r in runs if r.dagster_run.tags["dagster/partition"] == film]
        assert len(of_film) == (2 if film in FILMS[:2] else 1)
        assert _most_at_once(of_film) == 1, film
    assert _most_at_once(gpu_spans) <= limits["pools"]["default_limit"]


def test_most_at_once_counts_overlapping_spans_only():
    assert _most_at_once([(0, 1), (1, 2), (2, 3)]) == 1
    assert _most_at_once([(0, 3), (1, 2), (1.5, 4)]) == 3
