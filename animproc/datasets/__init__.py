"""Training datasets from a film's products (issue 14): four task types written as Hugging Face Parquet shards
with Image / Audio features, a generated dataset card, lineage columns in every row, splits by scene or shot;
their export (Hugging Face `save_to_disk`, plain Parquet, WebDataset tar shards) and their union over films."""
