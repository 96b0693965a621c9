"""Character identities: face analysis (detect, align, embed), clustering, evaluation."""
