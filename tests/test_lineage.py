"""The asset graph is the graph that runs: on a real materialisation of the sample film, each asset opens
through the catalogue exactly the products it declares upstream (recorded by its reader, which refuses any
other), and the assets that run before the reviews show the reviewed inputs they lacked."""
from dagster import AssetKey, AssetSelection, instance_for_test

from animproc.library import store_source
from animproc.storage import Storage
from animproc_dagster.definitions import build_defs
from animproc_dagster.reviews import GATES, REVIEW_READERS
from assets import optional_inputs
from partitions import add_film
from resources.film_config import FilmConfigResource
from resources.shot_detector import ShotDetectorResource
from resources.storage import StorageResource

# review: auto runs through both gates; occlusion_threshold 0 makes instances_inpainted fill (so it opens the
# frames and the source), the default face_interval_seconds makes faces decode the source
CONFIG = "review: auto\ninstances:\n  occlusion_threshold: 0.0\n"


def _declared(defs) -> dict[str, set[str]]:
    """Per op (asset or multi-asset, named by its sorted keys): the upstream products outside its own outputs."""
    graph = defs.resolve_asset_graph()
    out = {}
    for ad in graph.assets_defs:
        if not ad.is_executable or not ad.keys:  # gates are observed, checks own no asset
            continue
        own = set(ad.keys)
        parents = set().union(*(graph.get(k).parent_keys for k in own)) - own
        out[",".join(sorted(k.to_user_string() for k in own))] = {k.to_user_string() for k in parents}
    return out


def _metadata(inst, key: str) -> dict:
    return inst.get_latest_materialization_event(AssetKey(key)).asset_materialization.metadata


def test_every_asset_reads_exactly_its_declared_inputs_on_the_sample_film(tmp_path, sample_film):
    st = Storage(tmp_path / "data")
    store_source(st, "sample", sample_film[0])
    (tmp_path / "sample.yaml").write_text(CONFIG)
    defs = build_defs(StorageResource(root=str(tmp_path / "data")), FilmConfigResource(config_dir=str(tmp_path)),
                      ShotDetectorResource(backend="default"))
    declared = _declared(defs)
    graph = defs.resolve_asset_graph()
    with_optional = {k.to_user_string() for k in graph.get_all_asset_keys() if optional_inputs(graph.get(k).metadata)}
    reviewed = {k.to_user_string() for k in AssetSelection.assets(*[g.asset for g in GATES]).downstream(
        include_self=True).resolve(graph)} - set(REVIEW_READERS)
    children = {k for r in with_optional for k in graph.get(AssetKey(r)).child_keys}
    refreshed = with_optional | {k.to_user_string() for k in children  # those that can run before the reviews
                                 if not any(p.to_user_string() in reviewed for p in graph.get(k).parent_keys)}
    assert refreshed == set(REVIEW_READERS)  # they run before the reviews and again after them
    with instance_for_test() as inst:
        add_film(inst, "sample")
        assert defs.resolve_job_def("film_assets").execute_in_process(instance=inst, partition_key="sample").success
        for reader in with_optional:  # before the reviews: their reviewed inputs are missing, and say so
            missing = set(_metadata(inst, reader)["inputs_missing"].value)
            assert missing == optional_inputs(graph.get(AssetKey(reader)).metadata), (reader, missing)
        for job in ("instances_reviewed", "identities_reviewed"):
            assert defs.resolve_job_def(job).execute_in_process(instance=inst, partition_key="sample").success
        read = {}
        for op in declared:
            metadata = _metadata(inst, op.split(",")[0])
            assert "inputs_missing" not in metadata, (op, metadata["inputs_missing"].value)
            read[op] = set(metadata["inputs_read"].value)
        # the identity previews a curator reads in the UI are there, as small inline images
        assert _metadata(inst, "characters")["characters"].value > 0
        previews = {(key, name): _metadata(inst, key)[name].value for key, name in (
            ("identity_clusters", "medoids"), ("identity_clusters", "projection"), ("characters", "sheet"),
            ("pose_subclusters", "sheet"))}
    for (key, name), md in previews.items():
        kind = "png" if name == "projection" else "jpeg"
        assert md.startswith("![") and f"](data:image/{kind};base64," in md, (key, name, md[:80])
    assert sum(map(len, previews.values())) < 400_000
    assert read == declared


def test_table_products_show_their_catalogue_schema_in_the_ui():
    from animproc.catalogue import PRODUCTS

    graph = build_defs().resolve_asset_graph()
    for name, product in PRODUCTS.items():
        if not product.tables:
            continue
        metadata = graph.get(AssetKey(name)).metadata
        first = next(iter(product.tables.values()))
        assert [(c.name, c.type) for c in metadata["dagster/column_schema"].columns] == list(first.columns), name
        for table, spec in product.tables.items():
            assert [c.name for c in metadata[f"schema/{table}"].schema.columns] == spec.names, (name, table)


def test_the_readme_asset_graph_is_the_graph_of_the_definitions():
    from pathlib import Path

    from animproc_dagster.definitions import defs
    from animproc_dagster.lineage import BEGIN, END, readme_block

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    shown = readme[readme.index(BEGIN):readme.index(END) + len(END)]
    assert shown == readme_block(defs), "run: python -m animproc_dagster.lineage --write README.md"


def test_the_asset_graph_draws_gates_as_hexagons_and_optional_inputs_dotted():
    from animproc_dagster.definitions import defs
    from animproc_dagster.lineage import mermaid

    text = mermaid(defs)
    assert "identity_review{{identity_review}}" in text and "instance_review{{instance_review}}" in text
    assert "characters -.-> motion" in text and "shots --> motion" in text
    assert "characters --> motion" not in text
