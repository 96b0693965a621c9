"""The storage root on S3, exercised against a local moto S3 server on 127.0.0.1."""
import socket

import pytest
from dagster import instance_for_test

from animproc.library import store_source
from animproc.storage import Storage
from animproc_dagster.definitions import build_defs
from dagster_helpers import run_film
from resources.film_config import FilmConfigResource
from resources.shot_detector import ShotDetectorResource
from resources.storage import StorageResource


@pytest.fixture(scope="module")
def s3_endpoint():
    from moto.server import ThreadedMotoServer

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def bucket(s3_endpoint, monkeypatch):
    import boto3

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket="films")
    return s3_endpoint


def test_s3_storage_writes_and_swaps_folders(bucket):
    st = Storage("s3://films/anim", client_kwargs={"endpoint_url": bucket})
    with st.publish_dir("f", "frames") as out:
        st.write_bytes(out / "a.jpg", b"1")
        st.write_bytes(out / "b.jpg", b"1")
    with st.publish_dir("f", "frames") as out:
        st.write_bytes(out / "a.jpg", b"2")
    names = sorted(p.name for p in st.asset_dir("f", "frames").iterdir())
    assert names == ["a.jpg"] and (st.asset_dir("f", "frames") / "a.jpg").read_bytes() == b"2"


def test_film_materialises_on_s3(bucket, sample_film, tmp_path):
    """The whole visual foundation runs with its storage root on S3."""
    root = "s3://films/prefix"
    st = Storage(root, client_kwargs={"endpoint_url": bucket})
    store_source(st, "sample", sample_film[0])
    defs = build_defs(StorageResource(root=root, s3_endpoint_url=bucket), FilmConfigResource(config_dir=str(tmp_path)),
                      ShotDetectorResource(backend="default"))
    with instance_for_test() as instance:
        result = run_film(defs, instance, "sample")
    assert result.success and all(c.passed for c in result.get_asset_check_evaluations())
    frames = st.read_parquet(st.asset_dir("sample", "frames") / "manifest.parquet")
    assert len(frames) > 0 and all(st.resolve(p).exists() for p in frames["path"])
    staging = st.film_dir("sample") / ".staging"
    assert not staging.exists() or not list(staging.iterdir())
