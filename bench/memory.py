"""Peak memory of a worker answering one large sync: a fresh process, one request, its RSS.

Linux only (it reads ``/proc/self/status``), like the rest of the benchmark's process probes.

The process builds the Flask app as a gunicorn worker does and posts the request through
Flask's test client, so the body is buffered and answered by the same code as in a worker.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import datetime

from zen_flow.api.times import format_time

# The peak is read from VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss over from
# the parent across fork and exec, so a child of a large benchmark process would report the
# parent's peak.
_WORKER = """
import json, sys
from zen_flow.server.app import create_app
from zen_flow.server.settings import Settings

def peak():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])  # KiB
    raise RuntimeError("no VmHWM in /proc/self/status")

app = create_app(Settings(test_clock=True, log_level="warning"))
client = app.test_client()
loaded = peak()
with open(sys.argv[1], "rb") as handle:
    body = handle.read()
ready = peak()
answer = client.post(
    "/sync", data=body, headers={"Content-Type": "application/json", "X-Zen-Flow-Now": sys.argv[2]}
)
print(json.dumps({"code": answer.status_code, "loaded": loaded, "ready": ready, "peak": peak(),
                  "response_bytes": len(answer.data)}))
"""


@dataclass(frozen=True)
class Memory:
    """Peak RSS (KiB) of a fresh worker: after start-up, with the body read, after the sync."""

    loaded_kib: int
    with_body_kib: int
    peak_kib: int
    request_bytes: int
    response_bytes: int


def worker_peak(body: bytes, now: datetime) -> Memory:
    with tempfile.NamedTemporaryFile(suffix=".json") as request:
        request.write(body)
        request.flush()
        done = subprocess.run(
            [sys.executable, "-c", _WORKER, request.name, format_time(now)],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    if done.returncode != 0:
        raise RuntimeError(f"memory probe failed: {done.stderr.strip().splitlines()[-1:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result["code"] != 200:
        raise RuntimeError(f"memory probe: POST /sync answered {result['code']}")
    return Memory(
        loaded_kib=result["loaded"],
        with_body_kib=result["ready"],
        peak_kib=result["peak"],
        request_bytes=len(body),
        response_bytes=result["response_bytes"],
    )
