"""The hook server under gunicorn, as deployed, on a free port of 127.0.0.1; and its clients.

The server is started with the project's own gunicorn configuration; only the bind address,
the log level and the test clock come from the benchmark (the test clock makes every answer
the same as the pure path's, whatever the real time). Clients only ever talk to 127.0.0.1.
"""

from __future__ import annotations

import http.client
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from bench.measure import Stats
from zen_flow.api.times import format_time

HOST = "127.0.0.1"
CLOCK_HEADER = "X-Zen-Flow-Now"
START_TIMEOUT = 30.0


@dataclass(frozen=True)
class Server:
    port: int
    pid: int
    workers: int

    def worker_pids(self) -> list[int]:
        """The gunicorn workers: the children of the master process."""
        children = f"/proc/{self.pid}/task/{self.pid}/children"
        try:
            with open(children) as handle:
                return [int(pid) for pid in handle.read().split()]
        except OSError:
            return [pid for pid in _all_pids() if _parent_of(pid) == self.pid]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def gunicorn(workers: int = 2, worker_class: str | None = None) -> Iterator[Server]:
    """A running hook server; stopped (SIGTERM, graceful) when the block ends.

    ``worker_class`` replaces the configuration's (gevent), for comparisons."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="zen-flow-bench-") as metrics_dir:
        env = {
            **os.environ,
            "ZEN_FLOW_BIND": f"{HOST}:{port}",
            "ZEN_FLOW_WORKERS": str(workers),
            "ZEN_FLOW_LOG_LEVEL": "warning",
            "ZEN_FLOW_TEST_CLOCK": "1",
            "PROMETHEUS_MULTIPROC_DIR": metrics_dir,
        }
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "--config",
            "python:zen_flow.server.gunicorn_conf",
            *(["--worker-class", worker_class] if worker_class else []),
        ]
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
        try:
            server = Server(port, process.pid, workers)
            _wait_ready(server, process)
            yield server
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_ready(server: Server, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with code {process.returncode}")
        try:
            connection = http.client.HTTPConnection(HOST, server.port, timeout=2)
            connection.request("GET", "/readyz")
            ready = connection.getresponse().status == 200
            connection.close()
            if ready and len(server.worker_pids()) >= server.workers:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"gunicorn did not answer on {HOST}:{server.port} in {START_TIMEOUT}s")


class Client:
    """One client of the hook server, keeping its connection between requests (http.client
    opens a new one if the server closed it)."""

    def __init__(self, port: int, timeout: float = 60.0) -> None:
        self.connection = http.client.HTTPConnection(HOST, port, timeout=timeout)

    def sync(self, body: bytes, now: datetime) -> tuple[int, bytes]:
        headers = {"Content-Type": "application/json", CLOCK_HEADER: format_time(now)}
        self.connection.request("POST", "/sync", body=body, headers=headers)
        response = self.connection.getresponse()
        return response.status, response.read()

    def close(self) -> None:
        self.connection.close()


def round_trip(server: Server, body: bytes, now: datetime) -> float:
    """One POST /sync, from the first byte sent to the last byte of the answer read."""
    client = Client(server.port)
    try:
        started = time.perf_counter()
        status, _ = client.sync(body, now)
        elapsed = time.perf_counter() - started
    finally:
        client.close()
    if status != 200:
        raise RuntimeError(f"POST /sync answered {status}")
    return elapsed


@dataclass(frozen=True)
class Load:
    """The result of a load run: throughput, errors and latency under concurrency."""

    clients: int
    seconds: float
    requests: int
    errors: int
    latency: Stats

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0


def load(
    server: Server,
    body: bytes,
    now: datetime,
    clients: int = 4,
    seconds: float = 10.0,
    max_requests: int = 100_000,
) -> Load:
    """``clients`` processes posting the same sync request back to back, for ``seconds`` or
    until ``max_requests`` in all, whichever comes first."""
    per_client = max(1, max_requests // clients)
    context = multiprocessing.get_context("fork")
    with context.Pool(clients) as pool:
        started = time.perf_counter()
        results = pool.starmap(
            _client_loop, [(server.port, body, now, seconds, per_client)] * clients
        )
        elapsed = time.perf_counter() - started
    latencies = [t for samples, _ in results for t in samples]
    errors = sum(errors for _, errors in results)
    return Load(
        clients=clients,
        seconds=elapsed,
        requests=len(latencies) + errors,
        errors=errors,
        latency=Stats.of(latencies) if latencies else Stats(0.0, 0.0, 0),
    )


def _client_loop(
    port: int, body: bytes, now: datetime, seconds: float, limit: int
) -> tuple[list[float], int]:
    client = Client(port, timeout=30.0)
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline and len(latencies) + errors < limit:
        started = time.perf_counter()
        try:
            status, _ = client.sync(body, now)
        except (OSError, http.client.HTTPException):
            client.close()
            client = Client(port, timeout=30.0)
            status = 0
        if status == 200:
            latencies.append(time.perf_counter() - started)
        else:
            errors += 1
    client.close()
    return latencies, errors


def peak_rss_kib(pid: int) -> int | None:
    """The process's peak resident set (VmHWM), in KiB; None if it cannot be read."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _all_pids() -> list[int]:
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]


def _parent_of(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return int(handle.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None
