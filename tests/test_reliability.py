"""Reliability and security of the platform's edges (issue 20): names that become paths, killed runs, review
files and saves, the folder swap, bad media, the review server's socket handling and file modes."""
import json
from pathlib import Path

import pytest
from dagster import instance_for_test, materialize

from animproc.films import validate_film_key
from animproc.errors import FilmKeyError
from animproc.review.labels import ReviewFileError, parse_review, review_path
from review_helpers import fake_identities

FORMAT = "animproc-review/1"
ROOT = Path(__file__).resolve().parents[1]


def _identities(clusters: dict, faces: dict | None = None, **top) -> str:
    return json.dumps({"format": FORMAT, "film": "demo", "kind": "identities", "version": 1, "submitted": True,
                       "decisions": {"faces": faces or {}, "clusters": clusters}, **top})


ESCAPES = {
    "cluster key climbing out": ({"../../../../tmp/x": {"name": None}}, {}),
    "face moved to a climbing key": ({"0": {"name": "ava"}}, {"0000000_f00": "../../x"}),
    "name that is '..' once stripped": ({"0": {"name": " .."}}, {}),
    "name with a slash": ({"0": {"name": "a/b"}}, {}),
    "name with NUL": ({"0": {"name": "ava\x00"}}, {}),
    "name over 255 bytes": ({"0": {"name": "é" * 128}}, {}),
    "hidden name": ({"0": {"name": ".staging"}}, {}),
    "key whose default folder is too long": ({"k" * 250: {"name": None}}, {}),
    "lone surrogate": ({"0": {"name": "a\ud800"}}, {}),
}


@pytest.mark.parametrize("case", sorted(ESCAPES))
def test_review_keys_and_names_that_would_leave_their_folder_are_refused_at_parse_time(case):
    clusters, faces = ESCAPES[case]
    with pytest.raises(ReviewFileError, match="cannot be used as a folder name"):
        parse_review(_identities(clusters, faces), "identities.json", "demo", "identities")


def test_names_are_stored_stripped_and_ordinary_names_pass():
    review = parse_review(_identities({"0": {"name": "  Ava Lee "}, "1": {"name": None}}, {"0000000_f00": "1"}),
                          "identities.json", "demo", "identities")
    assert review.decisions["clusters"]["0"]["name"] == "Ava Lee"


def test_film_names_follow_the_same_component_rule():
    from animproc.films import path_component_problem

    for name in ["..", "a\x00b", "a" * 65, " a"]:
        with pytest.raises(FilmKeyError):
            validate_film_key(name)
    assert path_component_problem("x" * 255) is None and path_component_problem("x" * 256)


def test_characters_asset_refuses_a_review_that_would_write_outside_the_storage_root(tmp_path):
    """A hand-edited identities.json whose cluster key climbs out of the storage root fails the asset with the
    file's problem, and nothing is written outside the root."""
    from animproc_dagster.definitions import build_defs
    from assets.identities import characters
    from partitions import add_film
    from resources.film_config import FilmConfigResource
    from resources.storage import StorageResource

    root = tmp_path / "deep" / "er" / "data"
    st, _ = fake_identities(root)
    path = review_path(st, "demo", "identities")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_identities({"../../../../../escaped": {"name": None}},
                                {f"{k:07d}_f00": "../../../../../escaped" for k in range(4)}))
    defs = build_defs(StorageResource(root=str(root)), FilmConfigResource(config_dir=str(tmp_path / "configs")))
    with instance_for_test() as instance:
        add_film(instance, "demo")
        result = materialize([characters], partition_key="demo", instance=instance, raise_on_error=False,
                             resources=defs.resources)
    assert not result.success
    failure = [e for e in result.all_events if e.is_step_failure][0]
    assert "cannot be used as a folder name" in str(failure.event_specific_data.error.message)
    outside = [p for p in tmp_path.rglob("*") if root not in p.parents and p != root and p not in root.parents]
    assert outside == [] and not (st.asset_dir("demo", "characters")).exists()


SLOW_VOCALS = """import time
import assets.audio as audio
real = audio.film_step
def slow(context, *args):  # the vocals step (`gpu` pool) takes its time, to be killed while it holds the slot
    if context.asset_key.to_user_string() == "vocals":
        time.sleep(300)
    return real(context, *args)
audio.film_step = slow
"""  # a sitecustomize: every process of the run has it, the step processes (forked from the forkserver) too


class _Cli:
    """`animproc` subprocesses with their own storage and Dagster home, their output collected line by line."""

    def __init__(self, tmp_path):
        import os

        self.cwd = tmp_path
        self.env = {**os.environ, "ANIMPROC_DATA": str(tmp_path / "data"), "DAGSTER_HOME": str(tmp_path / "home"),
                    "ANIMPROC_CONFIG_DIR": str(tmp_path / "configs"), "PYTHONUNBUFFERED": "1",
                    "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        self.slow_hook = tmp_path / "slow_vocals"
        self.slow_hook.mkdir()
        (self.slow_hook / "sitecustomize.py").write_text(SLOW_VOCALS)

    def start(self, *args, slow: bool = False):
        import os
        import queue
        import subprocess
        import sys
        import threading

        env = {**self.env, "PYTHONPATH": os.pathsep.join([str(self.slow_hook), self.env["PYTHONPATH"]])} \
            if slow else self.env
        proc = subprocess.Popen([sys.executable, "-m", "animproc_dagster.cli", *args], cwd=self.cwd, env=env,
                                text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        proc.lines, proc.seen = queue.Queue(), []
        threading.Thread(target=lambda: [proc.lines.put(line) for line in proc.stdout], daemon=True).start()
        return proc

    @staticmethod
    def wait_for(proc, text: str, timeout: float = 90) -> str:
        import queue
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = proc.lines.get(timeout=0.5)
            except queue.Empty:
                continue
            proc.seen.append(line)
            if text in line:
                return line
        raise AssertionError(f"{text!r} not printed in {timeout} s:\n{''.join(proc.seen)}")

    @staticmethod
    def finish(proc, timeout: float = 90) -> str:
        import queue

        import subprocess

        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
        while True:
            try:
                proc.seen.append(proc.lines.get(timeout=1))
            except queue.Empty:
                break
        assert rc == 0, "".join(proc.seen)
        return "".join(proc.seen)


def _step_pid(step: str) -> int:
    """The pid of the process that ran `step` in the instance's only run (from its event log)."""
    from dagster import DagsterEventType, DagsterInstance

    with DagsterInstance.get() as instance:  # the test's DAGSTER_HOME is `home`
        (run,) = instance.get_runs()
        (record,) = [r for r in instance.all_logs(run.run_id, of_type=DagsterEventType.STEP_WORKER_STARTED)
                     if r.step_key == step]
    return int(record.dagster_event.event_specific_data.metadata["pid"].value)


def _gone_within(pid: int, seconds: float) -> bool:
    """Whether the process has ended (a zombie that nobody reaped yet has) within `seconds`."""
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.2)
    return False


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_killed_run_does_not_block_later_runs(tmp_path, monkeypatch, workers):
    """`kill -9` of `animproc run` while its `gpu` pool step runs (in its own process, or, with two workers, in a
    step process, which then ends with it): the next run marks the dead run failed and frees its slot; a run already waiting on a killed run's slot says what it waits for, then frees it and finishes;
    in the end no slot is held and nothing waits."""
    import os
    import signal

    from dagster import DagsterInstance, DagsterRunStatus

    from media_helpers import textured, write_video

    import shutil

    from animproc.library import store_source
    from animproc.storage import Storage
    from partitions import add_film

    cli = _Cli(tmp_path)
    cli.env["ANIMPROC_WORKERS"] = workers
    (tmp_path / "home").mkdir()
    shutil.copyfile(ROOT / "dagster.yaml", tmp_path / "home" / "dagster.yaml")  # as `animproc` seeds it
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    video = write_video(tmp_path / "clip.mp4", [textured(k // 6) for k in range(24)])
    for film in ("clip", "other"):  # a second film: two runs of one film never overlap, two films share the pool
        store_source(Storage(tmp_path / "data"), film, video)
    with DagsterInstance.get() as instance:
        add_film(instance, "clip")
        add_film(instance, "other")
    first = cli.start("run", "clip", "--select", "vocals", slow=True)
    try:
        cli.wait_for(first, "running vocals")
    finally:
        os.kill(first.pid, signal.SIGKILL)
    first.wait()
    if workers != "1":
        assert _gone_within(_step_pid("vocals"), 20), "the killed run's step process lives on"
    second = cli.start("run", "clip", "--select", "vocals", slow=True)
    try:
        freed = cli.wait_for(second, "died with its process")
        cli.wait_for(second, "running vocals")  # it got the slot the killed run held
        third = cli.start("run", "other", "--select", "vocals")
        try:
            waits = cli.wait_for(third, "vocals waits for a free slot in pool 'gpu'")
        except AssertionError:
            third.kill()
            raise
    finally:
        os.kill(second.pid, signal.SIGKILL)
    out = cli.finish(third)
    assert "marked failed, its pool slots freed" in freed and "of film 'clip'" in waits
    assert "died with its process" in out and "done in" in out
    with DagsterInstance.get() as instance:
        statuses = sorted(r.status.value for r in instance.get_runs())
        info = instance.event_log_storage.get_concurrency_info("gpu")
    assert statuses == ["FAILURE", "FAILURE", "SUCCESS"]
    assert info.claimed_slots == [] and info.pending_steps == []


def _instances(decisions: dict | str = "{}", **top) -> str:
    head = json.dumps({"format": FORMAT, "film": "demo", "kind": "instances", "version": 1, **top})
    body = decisions if isinstance(decisions, str) else json.dumps(decisions)
    return head[:-1] + f', "decisions": {body}}}'


HOSTILE = {
    "integer over 4300 digits": _instances(extra="1" * 5000).replace('"extra": "' + "1" * 5000 + '"', '"extra": ' + "1" * 5000),
    "deep nesting": _instances().replace('"decisions"', '"deep": ' + "[" * 100000 + "]" * 100000 + ', "decisions"'),
    "moderate nesting": _instances().replace('"decisions"', '"deep": ' + "[" * 40 + "]" * 40 + ', "decisions"'),
    "NaN": _instances().replace('"version": 1', '"version": 1, "x": NaN'),
    "infinity by overflow": _instances().replace('"version": 1', '"version": 1, "x": 1e999'),
    "huge version": _instances().replace('"version": 1', '"version": ' + "9" * 30),
    "invalid UTF-8": _instances().encode() + b"\xff",
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_review_files_raise_only_the_projects_error(case):
    with pytest.raises(ReviewFileError, match="refused|not valid JSON"):
        parse_review(HOSTILE[case], "instances.json", "demo", "instances")


@pytest.mark.parametrize("value", ['"false"', '"0"', '"no"', "[0]", "0", "1", "null"])
def test_submitted_must_be_a_json_boolean(value):
    with pytest.raises(ReviewFileError, match="'submitted' must be true or false"):
        parse_review(_instances().replace('"version": 1', f'"version": 1, "submitted": {value}'),
                     "instances.json", "demo", "instances")


@pytest.mark.parametrize("keep", ["1", "0", "1.0", '"true"'])
def test_keep_must_be_a_json_boolean(keep):
    with pytest.raises(ReviewFileError, match="'keep' must be true or false"):
        parse_review(_instances(f'{{"000000_00": {{"keep": {keep}}}}}'), "instances.json", "demo", "instances")


def test_a_hostile_review_file_is_reported_and_the_sensor_goes_on_with_other_films(tmp_path):
    """One film's review file with a 5,000-digit integer: the tick logs it and still reports the other film's
    finished review (before, the tick raised and no film's review was reported again)."""
    from dagster import build_sensor_context

    from animproc_dagster.sensors import review_sensor
    from partitions import add_film
    from resources.storage import StorageResource
    from review_helpers import fake_instances

    st, _ = fake_instances(tmp_path / "data", "bad")
    fake_instances(tmp_path / "data", "good")
    for film in ("bad", "good"):
        review_path(st, film, "instances").parent.mkdir(parents=True)
    review_path(st, "bad", "instances").write_text(HOSTILE["integer over 4300 digits"].replace('"demo"', '"bad"'))
    review_path(st, "good", "instances").write_text(
        _instances({"000000_00": {"keep": True}}, submitted=True).replace('"demo"', '"good"'))
    with instance_for_test() as instance:
        add_film(instance, "bad")
        add_film(instance, "good")
        context = build_sensor_context(instance=instance, resources={"storage": StorageResource(root=str(tmp_path / "data"))})
        result = review_sensor(context)
    assert [r.partition_key for r in result.run_requests] == ["good"]
    assert set(json.loads(result.cursor)) == {"bad/instances", "good/instances"}


def _python(code: str, *args: str, **kwargs):
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, "-c", code, *args], env=env, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, **kwargs)


SLOW_SAVE = """import sys, time
from animproc.review.labels import Review, VersionConflict, save_review
from animproc.storage import Storage
real = Storage.write_bytes
def slow(self, path, data):  # a slow disk: the write comes well after the version check
    time.sleep(0.4)
    real(self, path, data)
Storage.write_bytes = slow
st = Storage(sys.argv[1])
while time.time() < float(sys.argv[2]):
    time.sleep(0.005)
try:
    save_review(st, Review("demo", "instances", decisions={"000000_00": {"keep": True}}), 0)
    print("saved")
except VersionConflict:
    print("conflict")
"""


def test_of_parallel_saves_from_one_version_across_processes_exactly_one_succeeds(tmp_path):
    """Four processes (as two review servers of one film would) save from version 0 at the same moment."""
    import time

    start = time.time() + 4
    procs = [_python(SLOW_SAVE, str(tmp_path), str(start)) for _ in range(4)]
    outcomes = sorted(p.communicate(timeout=60)[0].strip() for p in procs)
    assert outcomes == ["conflict", "conflict", "conflict", "saved"], [p.stderr for p in procs]
    assert json.loads((tmp_path / "demo" / "reviews" / "instances.json").read_text())["version"] == 1


READER = """import os, sys, time
target, stop = sys.argv[1], sys.argv[2]
reads = misses = 0
while not os.path.exists(stop):
    try:
        with open(os.path.join(target, "a.txt")) as fh:
            fh.read()
    except FileNotFoundError:
        misses += 1
    reads += 1
print(reads, misses)
"""

PUBLISHER = """import sys
from animproc.storage import Storage
st = Storage(sys.argv[1])
for k in range(int(sys.argv[2])):
    with st.publish_dir("f", "asset") as out:
        st.write_text(out / "a.txt", sys.argv[3] + str(k))
"""


def test_a_concurrent_reader_never_finds_a_published_folder_missing(tmp_path):
    from animproc.storage import Storage

    st = Storage(tmp_path)
    with st.publish_dir("f", "asset") as out:
        st.write_text(out / "a.txt", "first")
    reader = _python(READER, str(tmp_path / "f" / "asset"), str(tmp_path / "stop"))
    try:
        for k in range(300):
            with st.publish_dir("f", "asset") as out:
                st.write_text(out / "a.txt", str(k))
    finally:
        (tmp_path / "stop").touch()
    reads, misses = map(int, reader.communicate(timeout=60)[0].split())
    assert reads > 0 and misses == 0, (reads, misses)


def test_two_writers_publishing_the_same_asset_all_succeed_and_leave_no_staging(tmp_path):
    writers = [_python(PUBLISHER, str(tmp_path), "150", name) for name in ("a", "b")]
    results = [(w.wait(timeout=120), w.stderr.read()) for w in writers]
    assert [rc for rc, _ in results] == [0, 0], results
    assert (tmp_path / "f" / "asset" / "a.txt").read_text() in ("a149", "b149")
    assert list((tmp_path / "f" / ".staging").iterdir()) == []


def test_a_failed_swap_keeps_the_old_product_and_leaves_no_staging(tmp_path, monkeypatch):
    from animproc.storage import Storage

    st = Storage(tmp_path)
    with st.publish_dir("f", "asset") as out:
        st.write_text(out / "a.txt", "old")

    def broken(*args):
        raise OSError(5, "I/O error")

    monkeypatch.setattr(Storage, "_swap_in", broken)
    with pytest.raises(OSError):
        with st.publish_dir("f", "asset") as out:
            st.write_text(out / "a.txt", "new")
    assert (tmp_path / "f" / "asset" / "a.txt").read_text() == "old"
    assert list((tmp_path / "f" / ".staging").iterdir()) == []


def test_written_files_get_the_umask_mode_not_0600(tmp_path):
    import os
    import stat

    from animproc.storage import Storage

    st = Storage(tmp_path)
    old = os.umask(0o022)
    try:
        st.write_text(st.root / "f" / "single.json", "{}")
        with st.publish_dir("f", "asset") as out:
            st.write_bytes(out / "a.bin", b"x")
    finally:
        os.umask(old)
    for path in (tmp_path / "f" / "single.json", tmp_path / "f" / "asset" / "a.bin"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path


def test_every_file_of_the_bad_media_corpus_is_refused_naming_it_and_nothing_is_stored(tmp_path):
    import re

    from animproc.errors import MediaError
    from animproc.library import store_source
    from animproc.storage import Storage
    from bad_media import refused_media

    st = Storage(tmp_path / "data")
    for name, (path, problem) in refused_media(tmp_path / "corpus").items():
        with pytest.raises(MediaError) as err:
            store_source(st, "film", path)
        assert str(path) in str(err.value) and re.search(problem, str(err.value)), (name, str(err.value))
        assert not st.film_dir("film").exists(), name


def test_audio_without_speech_gives_empty_valid_audio_products(tmp_path):
    """A 2 s tone, and a film with 8 audio streams of it: diarization and voice_features materialise with no
    speakers (before, diarization raised KeyError: 'speaker')."""
    from dagster import AssetKey

    from animproc.library import store_source
    from animproc.storage import Storage
    from animproc_dagster.definitions import build_defs
    from bad_media import odd_media
    from dagster_helpers import run_film
    from resources.film_config import FilmConfigResource
    from resources.storage import StorageResource

    st = Storage(tmp_path / "data")
    media = odd_media(tmp_path / "media")
    defs = build_defs(StorageResource(root=str(tmp_path / "data")), FilmConfigResource(config_dir=str(tmp_path)))
    keys = [AssetKey(k) for k in ("source_video", "audio", "diarization", "voice_features")]
    with instance_for_test() as instance:
        for film, name in (("tone", "tone"), ("eight", "eight audio streams")):
            info = store_source(st, film, media[name])
            assert len(info.audio) == (8 if film == "eight" else 1)
            result = run_film(defs, instance, film, asset_selection=keys, raise_on_error=False)
            assert result.success, film
            segments = st.read_parquet(st.asset_dir(film, "diarization") / "segments.parquet")
            assert segments.empty and list(segments.columns) == ["film", "start", "end", "speaker", "confidence",
                                                                 "overlap"]
            assert (st.asset_dir(film, "diarization") / f"{film}.rttm").read_text() == ""
            assert st.read_parquet(st.asset_dir(film, "voice_features") / "voice_features.parquet").empty


def test_a_1x1_video_run_prints_why_its_check_failed(tmp_path):
    from bad_media import odd_media

    cli = _Cli(tmp_path)
    cli.finish(cli.start("film", "add", "tiny", str(odd_media(tmp_path / "media")["1x1"])))
    proc = cli.start("run", "tiny", "--select", "frames")
    line = cli.wait_for(proc, "check frames_indices_and_counts FAILED")
    assert "FAILED: no frames were sampled" in line
    assert proc.wait(timeout=60) == 1


def test_the_storage_roots_own_folder_names_are_not_film_names():
    from animproc.films import slugify

    for name in ("inbox", "Inbox"):
        with pytest.raises(FilmKeyError, match="reserved|not a lowercase slug"):
            validate_film_key(name)
    with pytest.raises(FilmKeyError, match="reserved"):
        slugify("Inbox")


@pytest.fixture
def review_server(tmp_path):
    from animproc.review.server import ReviewServer
    from animproc.review.sources import instances_source
    from review_helpers import fake_instances

    st, _ = fake_instances(tmp_path / "data")
    srv = ReviewServer(st, "demo", instances_source(st, "demo"), request_timeout=1.0)
    srv.start()
    yield srv, st
    srv.stop()


def _raw(srv, data: bytes, wait: float = 5.0) -> bytes:
    """Send raw bytes on one connection and read until the server closes it (or `wait` passes)."""
    import socket
    import time

    with socket.create_connection((srv.host, srv.port), timeout=wait) as sock:
        sock.sendall(data)
        got, deadline = b"", time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except (socket.timeout, ConnectionResetError):
                break
            if not chunk:
                return got
            got += chunk
    raise AssertionError(f"the connection was still open after {wait} s; got {got[:200]!r}")


def _post(srv, body: bytes, token: bool = True, length: int | None = None, close: bool = False) -> bytes:
    headers = (f"POST /instances/api/save HTTP/1.1\r\nHost: 127.0.0.1:{srv.port}\r\n"
               + ("Connection: close\r\n" if close else "") +
               f"Content-Type: application/json\r\nContent-Length: {len(body) if length is None else length}\r\n"
               + (f"X-Review-Token: {srv.token}\r\n" if token else "") + "\r\n")
    return headers.encode() + body


def test_a_body_shorter_than_its_content_length_is_cut_off_by_the_socket_timeout(review_server):
    srv, _ = review_server
    _raw(srv, _post(srv, b'{"version": 0', length=100), wait=5.0)  # closed after the 1 s timeout


def test_a_request_hidden_in_a_refused_body_is_never_answered(review_server):
    srv, _ = review_server
    hidden = f"GET /instances/api/state HTTP/1.1\r\nHost: 127.0.0.1:{srv.port}\r\n\r\n".encode()
    reply = _raw(srv, _post(srv, hidden, token=False))
    assert reply.count(b"HTTP/1.1 ") == 1 and reply.startswith(b"HTTP/1.1 403")


def test_hostile_save_bodies_are_answered_400_and_extra_fields_are_bounded(review_server):
    srv, st = review_server
    from animproc.review.labels import load_review

    bodies = {
        "huge integer": b'{"version": 0, "decisions": {}, "extra": {"n": ' + b"7" * 5000 + b"}}",
        "deep nesting": b'{"version": 0, "decisions": ' + b"[" * 50000 + b"]" * 50000 + b"}",
        "string submitted": b'{"version": 0, "decisions": {}, "submitted": "false"}',
        "numeric keep": b'{"version": 0, "decisions": {"000000_00": {"keep": 1}}}',
        "large extra": json.dumps({"version": 0, "decisions": {}, "extra": {"notes": "x" * 200_000}}).encode(),
        "climbing id": b'{"version": 0, "decisions": {"../x": {"keep": true}}}',
    }
    for name, body in bodies.items():
        reply = _raw(srv, _post(srv, body, close=True), wait=10)
        assert reply.startswith(b"HTTP/1.1 400"), (name, reply[:300])
    assert load_review(st, "demo", "instances") is None
    small = json.dumps({"version": 0, "decisions": {}, "extra": {"notes": "fine"}}).encode()
    assert _raw(srv, _post(srv, small, close=True), wait=10).startswith(b"HTTP/1.1 200")
    assert load_review(st, "demo", "instances").extra == {"notes": "fine"}
