"""Dagster resources: storage, film configs, and one module per model family."""
