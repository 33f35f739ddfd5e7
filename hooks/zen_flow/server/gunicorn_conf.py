"""gunicorn settings, all from the environment: ``gunicorn -c python:zen_flow.server.gunicorn_conf``
(the app it serves is set here too, as ``wsgi_app``).

The worker timeout must stay above Metacontroller's hook timeout (10 s by default), so a
slow sync is answered or abandoned by Metacontroller, never cut off half-written by us.
"""

from __future__ import annotations

import gc
import os
import shutil
import tempfile
from typing import Any

from zen_flow.server.settings import Settings

_settings = Settings.from_env()
# Metrics from every worker are merged through files in this directory. It must be set
# before prometheus_client is first imported: the library picks its storage at import.
_metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or tempfile.mkdtemp(
    prefix="zen-flow-metrics-"
)
os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir

wsgi_app = "zen_flow.server.app:create_app()"
bind = _settings.bind
workers = _settings.workers
# gevent: a connection is a greenlet, so clients that send slowly cannot hold the workers
# (a sync worker would be tied up for as long as the client dawdles). A sync itself is CPU
# work that does not yield, so a worker still runs one at a time.
worker_class = "gevent"
worker_connections = _settings.worker_connections
keepalive = _settings.keepalive
timeout = _settings.timeout
graceful_timeout = _settings.graceful_timeout
loglevel = _settings.log_level
# Request bodies can be tens of megabytes; the app enforces ZEN_FLOW_MAX_BODY_BYTES.
limit_request_line = 8190
accesslog = None
errorlog = "-"
# No control socket: the hooks are managed by Kubernetes, and the root filesystem is
# read-only in the container.
control_socket_disable = True


def on_starting(server: Any) -> None:
    """Start with an empty metrics directory: counters restart with the server."""
    os.makedirs(_metrics_dir, exist_ok=True)
    for entry in os.listdir(_metrics_dir):
        path = os.path.join(_metrics_dir, entry)
        if os.path.isdir(path):
            shutil.rmtree(path)
        else:
            os.remove(path)


def child_exit(server: Any, worker: Any) -> None:
    """A worker's live gauges die with it; its counters stay in the merged totals."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def post_fork(server: Any, worker: Any) -> None:
    """Fewer, cheaper garbage collections in workers.

    A large sync allocates hundreds of thousands of short-lived objects that form no cycles;
    with the default thresholds the collector rescans them over and over. The objects that
    exist at fork (the loaded app) are frozen out of its way.
    """
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
