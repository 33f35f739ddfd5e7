"""``zen-flow serve`` (``make run``): a bad setting or a busy address is one line, at once."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ZEN_FLOW = str(Path(sys.executable).parent / "zen-flow")


def serve(**env: str) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    done = subprocess.run(
        [ZEN_FLOW, "serve"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return done, time.monotonic() - started


@pytest.mark.slow
def test_a_busy_address_is_one_line_naming_the_variable_at_once() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done, seconds = serve(ZEN_FLOW_BIND=f"127.0.0.1:{port}")
    assert done.returncode == 1
    assert [line for line in done.stderr.splitlines() if line] == [
        f"Error: ZEN_FLOW_BIND='127.0.0.1:{port}': cannot listen there: the address is "
        "already in use (is another server running?); set ZEN_FLOW_BIND to another "
        f"address, e.g. ZEN_FLOW_BIND=127.0.0.1:{port + 1}"
    ]
    assert seconds < 4, "gunicorn's own retries take five seconds"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("ZEN_FLOW_LOG_LEVEL", "loud"),
        ("ZEN_FLOW_WORKERS", "abc"),
        ("ZEN_FLOW_BIND", "127.0.0.1:99999"),
        ("PROMETHEUS_MULTIPROC_DIR", "/proc/zen-flow-cannot-be"),
    ],
)
def test_a_bad_setting_is_one_line_without_a_traceback(variable: str, value: str) -> None:
    done, _ = serve(**{"ZEN_FLOW_BIND": "127.0.0.1:0", variable: value})
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if line]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"Error: {variable}={value!r}")
