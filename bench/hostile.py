"""What hostile input costs: ``when`` compilation by length, a worker's memory as distinct
large flows arrive, and probe latency while clients send slowly.

- **when**: the best of several compilations (caches emptied) of conditions of growing
  length, up to the longest the API allows. Linear cost means a flat time per character.
- **distinct flows**: one gunicorn worker receives the first sync of N different flows of
  ``steps`` steps, every step with its own ``when``; its resident memory is read after each
  batch. The caches are bounded by bytes, so the memory levels off.
- **slow clients**: gunicorn (2 workers) with the project's configuration, and for
  comparison with gunicorn's default sync workers; N clients trickle headers or a body a
  byte a second while /healthz is probed.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bench import server
from zen_flow.api.spec import MAX_WHEN_LENGTH
from zen_flow.spec import validation, when

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TERM = "steps['s{index}'].phase == 'Succeeded'"


@dataclass(frozen=True)
class HostileConfig:
    when_lengths: tuple[int, ...] = (64, 256, 512, 1024, MAX_WHEN_LENGTH)
    when_repeats: int = 5
    flow_counts: tuple[int, ...] = (10, 25, 50, 100)
    flow_steps: int = 800
    slow_counts: tuple[int, ...] = (0, 4, 16)
    worker_classes: tuple[str, ...] = ("gevent", "sync")
    probes: int = 5
    probe_timeout: float = 10.0


QUICK_HOSTILE = HostileConfig(
    when_lengths=(64, 256),
    when_repeats=2,
    flow_counts=(2, 4),
    flow_steps=20,
    slow_counts=(0, 2),
    worker_classes=("gevent",),
    probes=2,
    probe_timeout=5.0,
)


@dataclass(frozen=True)
class WhenRow:
    length: int
    seconds: float

    @property
    def per_character(self) -> float:
        return self.seconds / self.length


@dataclass(frozen=True)
class FlowsRow:
    flows: int
    rss_kib: int
    request_bytes: int


@dataclass(frozen=True)
class SlowRow:
    worker_class: str
    slow_clients: int
    answered: int
    probes: int
    p50: float | None
    worst: float | None


@dataclass
class HostileResults:
    config: HostileConfig
    when: list[WhenRow] = field(default_factory=list)
    flows: list[FlowsRow] = field(default_factory=list)
    slow: list[SlowRow] = field(default_factory=list)
    bound_kib: int = 0


def condition(length: int, salt: str = "") -> str:
    """A condition of about ``length`` characters (never more): OR-ed step phases."""
    terms: list[str] = []
    index = 0
    while True:
        term = TERM.format(index=f"{salt}{index}")
        candidate = " || ".join([*terms, term])
        if len(candidate) > length:
            break
        terms.append(term)
        index += 1
    return " || ".join(terms) or "true"


def when_cost(config: HostileConfig) -> list[WhenRow]:
    rows = []
    for length in config.when_lengths:
        source = condition(length)
        best = float("inf")
        for _ in range(config.when_repeats):
            when.clear_caches()
            started = time.perf_counter()
            when.compile_when(source)
            best = min(best, time.perf_counter() - started)
        rows.append(WhenRow(len(source), best))
    return rows


def distinct_flow(index: int, steps: int) -> bytes:
    """The first sync request of a flow whose every step has a ``when`` of its own."""
    body = []
    for number in range(steps):
        name = f"s{number}"
        item: dict[str, object] = {
            "name": name,
            "template": {"spec": {"template": {"spec": {"containers": [
                {"name": "main", "image": "busybox:1.36", "command": ["true"]}
            ]}}}},
        }  # fmt: skip
        if number:
            item["dependencies"] = [f"s{number - 1}"]
            item["when"] = f"steps['s{number - 1}'].phase == 'Succeeded' || '{index}' == 'x'"
        body.append(item)
    flow = {
        "apiVersion": "workflow.zen.io/v1alpha1",
        "kind": "JobFlow",
        "metadata": {"name": f"flow-{index}", "namespace": "bench", "uid": f"uid-{index}"},
        "spec": {"steps": body},
    }
    return json.dumps({"parent": flow, "children": {"Job.batch/v1": {}}}).encode()


def distinct_flows(config: HostileConfig, log: Callable[[str], None]) -> list[FlowsRow]:
    rows = []
    with server.gunicorn(workers=1) as hook:
        (worker,) = hook.worker_pids()
        client = server.Client(hook.port, timeout=120)
        sent = 0
        for count in config.flow_counts:
            size = 0
            while sent < count:
                body = distinct_flow(sent, config.flow_steps)
                code, _ = client.sync(body, NOW)
                if code != 200:
                    raise RuntimeError(f"flow {sent}: POST /sync answered {code}")
                size = len(body)
                sent += 1
            rows.append(FlowsRow(count, rss_kib(worker), size))
            log(f"  {count} distinct flows: worker RSS {rows[-1].rss_kib // 1024} MiB")
        client.close()
    return rows


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def trickle(port: int, headers_only: bool, stop: threading.Event) -> None:
    """A client that sends a byte a second until stopped or cut off."""
    try:
        with socket.create_connection((server.HOST, port), timeout=60) as sock:
            head = b"POST /sync HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            if not headers_only:
                sock.sendall(head + b"Content-Length: 100000\r\n\r\n")
            for byte in head if headers_only else b"{" + b" " * 600:
                if stop.is_set():
                    return
                sock.sendall(bytes([byte]))
                time.sleep(1)
    except OSError:
        return


def probe(port: int, timeout: float) -> float | None:
    started = time.perf_counter()
    try:
        url = f"http://{server.HOST}:{port}/healthz"
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            answer.read()
    except (OSError, urllib.error.URLError):
        return None
    return time.perf_counter() - started


def slow_clients(config: HostileConfig, log: Callable[[str], None]) -> list[SlowRow]:
    rows = []
    for worker_class in config.worker_classes:
        for count in config.slow_counts:
            with server.gunicorn(workers=2, worker_class=worker_class) as hook:
                stop = threading.Event()
                threads = [
                    threading.Thread(target=trickle, args=(hook.port, i % 2 == 0, stop))
                    for i in range(count)
                ]
                for thread in threads:
                    thread.start()
                time.sleep(2)
                latencies = [probe(hook.port, config.probe_timeout) for _ in range(config.probes)]
                stop.set()
                answered = sorted(t for t in latencies if t is not None)
                rows.append(
                    SlowRow(
                        worker_class,
                        count,
                        len(answered),
                        config.probes,
                        answered[len(answered) // 2] if answered else None,
                        answered[-1] if answered else None,
                    )
                )
                log(f"  {worker_class}, {count} slow clients: {len(answered)}/{config.probes}")
                for thread in threads:
                    thread.join(timeout=5)
    return rows


def run(config: HostileConfig, log: Callable[[str], None]) -> HostileResults:
    log("when compilation")
    results = HostileResults(config, when=when_cost(config))
    log("distinct large flows")
    results.flows = distinct_flows(config, log)
    log("slow clients")
    results.slow = slow_clients(config, log)
    results.bound_kib = (
        validation.SPEC_CACHE_BYTES + when.CONDITIONS_CACHE_BYTES + when.PROGRAMS_CACHE_BYTES
    ) // 1024
    return results


def markdown(results: HostileResults) -> list[str]:
    lines = [
        "### `when` compilation by length",
        "",
        "| characters | best of " + str(results.config.when_repeats) + " (ms) | µs per character |",
        "| ---: | ---: | ---: |",
    ]
    for row in results.when:
        lines.append(f"| {row.length} | {row.seconds * 1000:.2f} | {row.per_character * 1e6:.2f} |")
    lines += [
        "",
        f"### One worker's memory as distinct flows of {results.config.flow_steps} steps arrive",
        "",
        "Every step has a `when` of its own, so no two flows share a condition. The caches"
        f" hold at most {results.bound_kib // 1024} MiB (estimated) together.",
        "",
        "| distinct flows | worker RSS (MiB) | request of each flow |",
        "| ---: | ---: | ---: |",
    ]
    for flows in results.flows:
        lines.append(
            f"| {flows.flows} | {flows.rss_kib / 1024:.0f} | {flows.request_bytes / 1024:.0f} KiB |"
        )
    lines += [
        "",
        "### Probes while clients send slowly (a byte a second)",
        "",
        "Half of the slow clients trickle headers, half a body. gunicorn with 2 workers of",
        "each class; /healthz probed "
        + str(results.config.probes)
        + f" times, each given {results.config.probe_timeout:g} s.",
        "",
        "| worker class | slow clients | probes answered | p50 (ms) | worst (ms) |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for slow in results.slow:
        p50 = f"{slow.p50 * 1000:.1f}" if slow.p50 is not None else "-"
        worst = f"{slow.worst * 1000:.1f}" if slow.worst is not None else "-"
        lines.append(
            f"| {slow.worker_class} | {slow.slow_clients} | {slow.answered}/{slow.probes} "
            f"| {p50} | {worst} |"
        )
    return lines


def main(argv: Sequence[str]) -> int:
    """``python -m bench.hostile [--quick]``: these benchmarks alone, as Markdown."""
    config = QUICK_HOSTILE if "--quick" in argv else HostileConfig()
    results = run(config, lambda message: print(message, file=sys.stderr))
    print("\n".join(markdown(results)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
