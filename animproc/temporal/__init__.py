"""Temporal analysis: camera movement, shot scale, motion, structure."""
