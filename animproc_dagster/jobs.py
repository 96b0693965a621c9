"""Jobs: everything a film needs up to its first review gate, and for each gate what runs once it is reviewed
(up to the next gate)."""
from dagster import AssetSelection, define_asset_job

from animproc_dagster.reviews import GATES, REVIEW_READERS
from partitions import film_partitions


def _from(gate) -> AssetSelection:
    return AssetSelection.assets(*gate.assets).downstream(include_self=True)


_all_gated = AssetSelection.assets(*[a for g in GATES for a in g.assets]).downstream(include_self=True)

film_job = define_asset_job("film_assets", selection=(AssetSelection.all() - _all_gated)
                            | AssetSelection.assets(*REVIEW_READERS), partitions_def=film_partitions,
                            description="Materialise one film's assets up to its review gates, and the assets whose "
                                        "reviewed inputs are optional (REVIEW_READERS) without them.")


def _gate_selection(gate) -> AssetSelection:
    """Downstream of this gate, up to the next gate (GATES are in pipeline order). The assets that read reviewed
    products as optional inputs (REVIEW_READERS) are downstream of the last gate, so its job runs them again."""
    selection = _from(gate) - AssetSelection.assets(*gate.assets)
    for later in GATES[GATES.index(gate) + 1:]:
        selection = selection - _from(later)
    return selection


gate_jobs = {g.job: define_asset_job(g.job, selection=_gate_selection(g), partitions_def=film_partitions,
                                     description=f"What runs for a film once its {g.kind} review is finished.")
             for g in GATES}


def job_keys(graph, job_name: str) -> set:
    """The assets a job of this module can materialise, in `graph` (a resolved asset graph)."""
    job = film_job if job_name == film_job.name else gate_jobs[job_name]
    return {k for k in job.selection.resolve(graph) if graph.get(k).is_materializable}
