import os
import signal
import subprocess
import sys


def _started_in_the_background():
    """What `cmd &` without job control (and nohup) hands a process: SIGINT ignored; SIGTERM too, as Dagster
    maps it to SIGINT's handler inside a process that ran a job (a test session, a script)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def test_a_run_started_with_interrupts_ignored_ends_and_leaves_no_log_mirror_holding_its_output(tmp_path, sample_film):
    env = {**os.environ, "ANIMPROC_DATA": str(tmp_path / "data"), "DAGSTER_HOME": str(tmp_path / "home"),
           "ANIMPROC_CONFIG_DIR": str(tmp_path / "configs")}

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "animproc_dagster.cli", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=180, preexec_fn=_started_in_the_background)

    assert cli("film", "add", "talk", str(sample_film[0])).returncode == 0
    done = cli("run", "talk", "--select", "source_video")  # without the fix: waits on the orphaned tails, times out
    assert done.returncode == 0, done.stderr
    left = subprocess.run(["pgrep", "-f", f"tail -F .*{tmp_path}"], capture_output=True, text=True).stdout.split()
    assert left == []
