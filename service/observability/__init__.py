"""How the engine is watched in production: JSON logs, Prometheus metrics, health checks."""
