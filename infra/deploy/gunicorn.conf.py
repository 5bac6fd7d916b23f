"""gunicorn for the API: several uvicorn workers, JSON logs, Prometheus multiprocess metrics.

Started by `infra/deploy/start.sh api`. Address and worker count come from CLO_API_BIND and
CLO_API_WORKERS. With PROMETHEUS_MULTIPROC_DIR set (start.sh sets it), the directory is
emptied when the server starts and a dead worker's live gauges are dropped.
"""

from __future__ import annotations

import os
from pathlib import Path

from service.config import get_settings
from service.observability.logs import configure_logging
from service.observability.metrics import MULTIPROC_DIR_ENV, worker_exited

settings = get_settings()
bind = settings.api_bind
workers = settings.api_workers
worker_class = "uvicorn_worker.UvicornWorker"
# The app's own access log (clo.access: route templates, request ids) replaces gunicorn's.
accesslog = None
errorlog = "-"
# A request longer than this is a stuck worker: it is replaced. Feed webhooks take seconds.
timeout = 60
graceful_timeout = 30
keepalive = 5
# Workers are replaced now and then, so a slow leak never grows without bound.
max_requests = 20_000
max_requests_jitter = 2_000


def on_starting(_server: object) -> None:
    configure_logging(settings.log_level)
    directory = os.environ.get(MULTIPROC_DIR_ENV)
    if directory:
        # Values of an earlier server's processes would be summed with the new ones'.
        Path(directory).mkdir(parents=True, exist_ok=True)
        for stale in Path(directory).glob("*.db"):
            stale.unlink(missing_ok=True)


def post_worker_init(_worker: object) -> None:
    configure_logging(settings.log_level)


def child_exit(_server: object, worker: object) -> None:
    worker_exited(int(getattr(worker, "pid", 0)))
