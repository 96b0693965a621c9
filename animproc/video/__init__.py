"""Video: probing, decoding, shot detection and frame sampling."""
