"""Jobs: everything a film needs up to its review gates, and for each gate what runs once it is reviewed."""
from dagster import AssetSelection, define_asset_job

from animproc_dagster.reviews import GATES
from partitions import film_partitions

_gated = AssetSelection.assets(*[g.asset for g in GATES]).downstream(include_self=True)

film_job = define_asset_job("film_assets", selection=AssetSelection.all() - _gated, partitions_def=film_partitions,
                            description="Materialise one film's assets up to its review gates.")

gate_jobs = {g.job: define_asset_job(g.job, selection=AssetSelection.assets(g.asset).downstream(include_self=False),
                                     partitions_def=film_partitions,
                                     description=f"What runs for a film once its {g.kind} review is finished.")
             for g in GATES}
