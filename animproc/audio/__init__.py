"""Audio: extraction, speaker diarization, evaluation."""
