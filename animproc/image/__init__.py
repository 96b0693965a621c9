"""Image logic: quality metrics, perceptual hashes, near-duplicate removal, previews."""
