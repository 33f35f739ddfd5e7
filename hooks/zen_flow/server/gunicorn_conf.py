"""gunicorn settings, all from the environment: ``gunicorn -c python:zen_flow.server.gunicorn_conf``
(the app it serves is set here too, as ``wsgi_app``).

The worker timeout must stay above Metacontroller's hook timeout (10 s by default), so a
slow sync is answered or abandoned by Metacontroller, never cut off half-written by us.
"""

from __future__ import annotations

import errno
import gc
import os
import shutil
import socket
import tempfile
from typing import Any

from zen_flow.server.logs import gunicorn_logconfig
from zen_flow.server.settings import Settings, unknown_variables

METRICS_ENV = "PROMETHEUS_MULTIPROC_DIR"


def _metrics_directory() -> str:
    """Where workers share their metric samples: created now, so that a directory that
    cannot be is one line at start, not a traceback in every worker."""
    given = os.environ.get(METRICS_ENV)
    if not given:
        return tempfile.mkdtemp(prefix="zen-flow-metrics-")
    try:
        os.makedirs(given, exist_ok=True)
    except OSError as error:
        raise ValueError(f"{METRICS_ENV}={given!r}: cannot create it: {error.strerror}") from None
    if not os.access(given, os.W_OK | os.X_OK):
        raise ValueError(f"{METRICS_ENV}={given!r}: not writable by this user")
    return given


_REASONS = {
    errno.EADDRINUSE: "the address is already in use (is another server running?)",
    errno.EADDRNOTAVAIL: "this machine has no such address",
    errno.EACCES: "permission denied (ports below 1024 need privileges)",
}


def check_address(bind: str) -> None:
    """``ValueError`` naming ZEN_FLOW_BIND when nothing could listen on ``bind``.

    gunicorn would retry for five seconds and end with "Can't connect"; trying once here
    says at once what to change. Sockets handed over by a re-executing gunicorn or by
    systemd are in use on purpose and are not tried.
    """
    if bind.startswith("unix:") or "GUNICORN_FD" in os.environ or "LISTEN_FDS" in os.environ:
        return
    host, _, port = bind.rpartition(":")
    name: str | None = host.strip("[]") or None
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            name, int(port), type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except socket.gaierror as error:
        reason = f"unknown host ({error.strerror})"
    except OSError as error:
        reason = _REASONS.get(error.errno or 0, error.strerror or str(error))
    else:
        return
    other = f"{host}:{int(port) + 1}" if int(port) < 65535 else "127.0.0.1:8080"
    raise ValueError(
        f"ZEN_FLOW_BIND={bind!r}: cannot listen there: {reason}; "
        f"set ZEN_FLOW_BIND to another address, e.g. ZEN_FLOW_BIND={other}"
    )


_settings = Settings.from_env()
# Metrics from every worker are merged through files in this directory. It must be set
# before prometheus_client is first imported: the library picks its storage at import.
_metrics_dir = _metrics_directory()
os.environ[METRICS_ENV] = _metrics_dir
check_address(_settings.bind)

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
# gunicorn's own lines (start-up, workers, errors) as JSON, like the app's.
logconfig_dict = gunicorn_logconfig(_settings.log_level)
# Request bodies can be tens of megabytes; the app enforces ZEN_FLOW_MAX_BODY_BYTES.
limit_request_line = 8190
accesslog = None
errorlog = "-"
# No control socket: the hooks are managed by Kubernetes, and the root filesystem is
# read-only in the container.
control_socket_disable = True


def on_starting(server: Any) -> None:
    """Start with an empty metrics directory: counters restart with the server. A
    ``ZEN_FLOW_*`` variable that is no setting is most likely a typo: say so."""
    for line in unknown_variables():
        server.log.warning(line)
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
