"""Health checks and checks (HealthCheck, CheckInfo): the pure policy in ``policy``."""
