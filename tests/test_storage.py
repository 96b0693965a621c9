import os

import pandas as pd
import pytest

from animproc.storage import STAGING, Storage


def test_write_bytes_is_atomic_and_leaves_no_temp_files(tmp_path):
    """A single-file write goes through a temporary name; only the final file remains."""
    st = Storage(tmp_path)
    target = st.film_dir("f") / "a" / "x.bin"
    st.write_bytes(target, b"one")
    st.write_bytes(target, b"two")
    assert target.read_bytes() == b"two"
    assert os.listdir(tmp_path / "f" / "a") == ["x.bin"]


def test_publish_dir_replaces_outputs_whole(tmp_path):
    """Re-materialising replaces the asset folder: files the new run did not write are gone."""
    st = Storage(tmp_path)
    with st.publish_dir("f", "frames") as out:
        st.write_bytes(out / "old.jpg", b"1")
        st.write_bytes(out / "keep.jpg", b"1")
    with st.publish_dir("f", "frames") as out:
        st.write_bytes(out / "keep.jpg", b"2")
    assert sorted(os.listdir(tmp_path / "f" / "frames")) == ["keep.jpg"]
    assert (tmp_path / "f" / "frames" / "keep.jpg").read_bytes() == b"2"
    assert os.listdir(tmp_path / "f" / STAGING) == []


def test_failed_run_leaves_previous_outputs_and_no_partial_files(tmp_path):
    """A run that dies mid-way leaves the previous outputs visible and nothing half-written."""
    st = Storage(tmp_path)
    with st.publish_dir("f", "frames") as out:
        st.write_bytes(out / "a.jpg", b"good")
    with pytest.raises(KeyboardInterrupt):
        with st.publish_dir("f", "frames") as out:
            st.write_bytes(out / "a.jpg", b"partial")
            st.write_bytes(out / "b.jpg", b"partial")
            raise KeyboardInterrupt
    assert os.listdir(tmp_path / "f" / "frames") == ["a.jpg"]
    assert (tmp_path / "f" / "frames" / "a.jpg").read_bytes() == b"good"
    assert os.listdir(tmp_path / "f" / STAGING) == []


def test_parquet_round_trip_and_relative_paths(tmp_path):
    st = Storage(tmp_path)
    df = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    path = st.asset_dir("f", "t") / "m.parquet"
    st.write_parquet(path, df)
    pd.testing.assert_frame_equal(st.read_parquet(path), df)
    assert st.relative(path) == "f/t/m.parquet"
    assert st.resolve("f/t/m.parquet") == path


def test_staging_left_by_a_killed_run_is_cleaned_up(tmp_path):
    """A run killed with SIGKILL cannot clean up; the next publish of that asset removes its leftovers."""
    import socket
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    leftover = tmp_path / "f" / STAGING / f"frames@{socket.gethostname()}@{dead.stdout.strip()}@abcd"
    leftover.mkdir(parents=True)
    (leftover / "half.jpg").write_bytes(b"x")
    other_asset = tmp_path / "f" / STAGING / f"shots@{socket.gethostname()}@{dead.stdout.strip()}@abcd"
    other_asset.mkdir()
    st = Storage(tmp_path)
    with st.publish_dir("f", "frames") as out:
        st.write_bytes(out / "a.jpg", b"1")
    assert not leftover.exists() and other_asset.exists()


def test_copy_within_a_local_root_links_instead_of_duplicating(tmp_path):
    st = Storage(tmp_path)
    src = st.asset_dir("f", "frames") / "a.jpg"
    st.write_bytes(src, b"pixels")
    dst = st.asset_dir("f", "frames_processed") / "a.jpg"
    st.copy(src, dst)
    assert dst.read_bytes() == b"pixels"
    assert os.stat(src).st_ino == os.stat(dst).st_ino
    assert sorted(os.listdir(tmp_path / "f" / "frames_processed")) == ["a.jpg"]
