"""Running icx in production: health and readiness, metrics, request ids and logs."""
