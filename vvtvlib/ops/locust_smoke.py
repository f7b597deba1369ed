"""The preflight's Locust smoke (run by ``locust -f`` in its own process: Locust patches the
standard library with gevent, so it never runs inside the CLI's process)."""

from locust import HttpUser, constant, task


class SmokeUser(HttpUser):  # pragma: no cover - runs under locust
    wait_time = constant(0.2)

    @task
    def ready(self) -> None:
        self.client.get("/v1/health/ready", name="ready")
