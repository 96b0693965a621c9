"""The product catalogue: reads record the products they open and refuse undeclared ones, writes keep to the
table schemas, paths stored in tables name the product they lie in."""
import pandas as pd
import pytest

from animproc.catalogue import FilmProducts, SchemaMismatch, UndeclaredRead
from animproc.storage import Storage

SHOTS = pd.DataFrame({"film": ["f"], "shot_id": [0], "start_frame": [0], "end_frame": [9], "start_time": [0.0],
                      "end_time": [0.4]})


def _shots(st: Storage) -> None:
    with FilmProducts(st, "f").publish("shots") as out:
        out.table("shots", SHOTS)
        out.table("transitions", pd.DataFrame(columns=["kind", "first", "last", "boundary", "score"]))


def test_reads_are_recorded_and_absent_optional_inputs_reported_missing(tmp_path):
    st = Storage(tmp_path)
    _shots(st)
    products = FilmProducts(st, "f", declared={"shots", "faces"})
    assert products.table("shots", "shots").equals(SHOTS)
    assert products.optional_table("faces") is None
    assert products.reads == {"shots", "faces"} and products.missing == {"faces"}


def test_a_product_not_declared_is_refused_before_it_is_opened(tmp_path):
    st = Storage(tmp_path)
    _shots(st)
    products = FilmProducts(st, "f", declared={"frames"})
    with pytest.raises(UndeclaredRead, match="'shots'"):
        products.table("shots", "shots")
    with pytest.raises(UndeclaredRead, match="'shots'"):
        products.resolve("f/shots/shots.parquet")  # a stored path reads the product it lies in
    assert products.reads == set()


def test_a_table_with_other_columns_than_its_schema_is_not_written(tmp_path):
    st = Storage(tmp_path)
    with pytest.raises(SchemaMismatch, match="missing \\['end_time'\\].*not listed \\['extra'\\]"):
        with FilmProducts(st, "f").publish("shots") as out:
            out.table("shots", SHOTS.drop(columns=["end_time"]).assign(extra=1))
    assert not st.asset_dir("f", "shots").exists()


def test_open_tables_take_further_columns_and_writers_return_stored_paths(tmp_path):
    st = Storage(tmp_path)
    with FilmProducts(st, "f").publish("voice_features") as out:
        out.table("voice_features", pd.DataFrame({"film": ["f"], "speaker": ["A"], "f0_median_hz": [200.0]}))
    with FilmProducts(st, "f").publish("faces") as out:
        assert out.blob("crops/a.jpg", b"x") == "f/faces/crops/a.jpg"
        assert out.staged("f/faces/crops/a.jpg").read_bytes() == b"x"
    reader = FilmProducts(st, "f")
    assert reader.resolve("f/faces/crops/a.jpg").read_bytes() == b"x" and reader.reads == {"faces"}
    assert list(reader.table("voice_features").columns) == ["film", "speaker", "f0_median_hz"]
