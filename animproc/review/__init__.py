"""Human review gates: the reviewed-label file format and the local review server."""
