"""Training sets from the reviewed characters: captions, per-character LoRA datasets with kohya configs, and the
evaluation of trained checkpoints."""
