"""Dagster assets: thin layers that load inputs, call the animproc core, write outputs, report metadata."""
