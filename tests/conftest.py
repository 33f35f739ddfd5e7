"""Shared fixtures: a real gunicorn server on a free port, started once per test session."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from zen_flow.engine.wire import allow_deep_json
from zen_flow.spec.when import compile_when
from zen_flow.tools.sim.transports import HttpTransport

# The server raises the recursion limit for deep JSON, and the CEL library sets it when it
# first builds a parser: have both happen before any test runs (hypothesis warns when a
# test changes the limit).
compile_when("steps.warm.phase == 'Succeeded'")
allow_deep_json()

ROOT = Path(__file__).resolve().parent.parent


# Fixtures that start a process: a test using one is slow (``make unit`` leaves it out).
PROCESS_FIXTURES = frozenset({"server", "server_log", "http"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if PROCESS_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start_server(extra_env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str, Path]:
    port = _free_port()
    log = Path(tempfile.mkstemp(prefix="zen-flow-server-", suffix=".log")[1])
    env = {
        **os.environ,
        "ZEN_FLOW_BIND": f"127.0.0.1:{port}",
        "ZEN_FLOW_WORKERS": "2",
        "PROMETHEUS_MULTIPROC_DIR": tempfile.mkdtemp(prefix="zen-flow-metrics-"),
        **extra_env,
    }
    gunicorn = Path(sys.executable).parent / "gunicorn"
    process = subprocess.Popen(
        [str(gunicorn), "--config", "python:zen_flow.server.gunicorn_conf"],
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()}")
        try:
            with urllib.request.urlopen(base + "/readyz", timeout=1) as answer:
                if answer.status == 200:
                    return process, base, log
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"server did not become ready: {log.read_text()}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="session")
def server() -> Iterator[str]:
    """Base URL of a hook server with the test clock enabled."""
    process, base, _ = _start_server(
        {
            "ZEN_FLOW_TEST_CLOCK": "1",
            "ZEN_FLOW_MAX_BODY_BYTES": str(8 * 1024 * 1024),
            "ZEN_FLOW_READ_TIMEOUT": "3",
        }
    )
    yield base
    _stop(process)


@pytest.fixture(scope="session")
def server_log() -> Iterator[tuple[str, Path]]:
    """A second server whose log the test reads (no test clock: the header is ignored)."""
    process, base, log = _start_server({})
    yield base, log
    _stop(process)


@pytest.fixture()
def http(server: str) -> HttpTransport:
    return HttpTransport(server)
