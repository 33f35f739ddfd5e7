"""The benchmark report: tables for the terminal, and docs/BENCHMARKS.md."""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

from bench import hostile, measure
from bench.benchmarks import (
    Config,
    GcRow,
    MemoryResult,
    Profile,
    SimulationRow,
    SyncRow,
    ThroughputRow,
)
from bench.hostile import HostileResults

PACKAGES = ("zen-flow", "msgspec", "pydantic", "pydantic-core", "flask", "werkzeug", "gunicorn")
MIB = 1024 * 1024
# Targets: the pure path against the json.loads + json.dumps floor.
FLOOR_TARGETS = {10: 3.0, 100: 3.0, 1000: 1.0, 5000: 1.0}
STATUS_LIMIT = MIB
# etcd's default request limit (--max-request-bytes): the largest object the API server stores.
ETCD_LIMIT = 1536 * 1024
# Target for ``zen-flow simulate`` of the largest flows (5000 steps or more).
SIMULATION_TARGET_SECONDS = 60.0
SIMULATION_TARGET_STEPS = 5000


@dataclass(frozen=True)
class Results:
    config: Config
    rows: list[SyncRow]
    throughput: list[ThroughputRow]
    memory: MemoryResult | None
    profiles: list[Profile]
    gc: list[GcRow]
    seconds: float
    command: str
    finished_step: dict[str, Any] | None = None
    spec_memory: tuple[int, int] | None = None  # steps, bytes a validated spec holds
    hostile: HostileResults | None = None
    simulations: Sequence[SimulationRow] = ()


def machine() -> list[str]:
    """CPU, cores, memory, OS, Python and the versions of the packages that matter."""
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory = "unknown"
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    memory = f"{int(line.split()[1]) / MIB:.1f} GiB"
                    break
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    versions = []
    for package in PACKAGES:
        try:
            versions.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            continue
    return [
        f"CPU: {cpu}, {usable} cores usable ({os.cpu_count()} online)",
        f"Memory: {memory}",
        f"OS: {platform.platform()}",
        f"Python: {platform.python_implementation()} {platform.python_version()}",
        "Packages: " + ", ".join(versions),
    ]


def ms(seconds: float) -> str:
    value = seconds * 1000
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def size(count: int) -> str:
    if count >= MIB:
        return f"{count / MIB:.1f} MiB"
    if count >= 1024:
        return f"{count / 1024:.0f} KiB"
    return f"{count} B"


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def sync_table(rows: Sequence[SyncRow]) -> list[str]:
    header = [
        "flow",
        "request",
        "Jobs",
        "warm p50 / p99",
        "cold p50 / p99",
        "floor p50",
        "warm ÷ floor",
        "cold ÷ floor",
        "typed floor p50",
        "warm ÷ typed",
        "HTTP p50 / p99",
    ]
    body = []
    for row in rows:
        http = f"{ms(row.http.p50)} / {ms(row.http.p99)}" if row.http else "-"
        body.append(
            [
                row.label,
                size(row.request_bytes),
                str(row.jobs),
                f"{ms(row.warm.p50)} / {ms(row.warm.p99)}",
                f"{ms(row.cold.p50)} / {ms(row.cold.p99)}",
                ms(row.floor.p50),
                f"{row.warm.p50 / row.floor.p50:.2f}",
                f"{row.cold.p50 / row.floor.p50:.2f}",
                ms(row.typed.p50),
                f"{row.warm.p50 / row.typed.p50:.1f}",
                http,
            ]
        )
    return table(header, body)


def target_table(rows: Sequence[SyncRow]) -> list[str]:
    body = []
    for steps in sorted({r.steps for r in rows}):
        of_size = [r for r in rows if r.steps == steps]
        worst_warm = max(of_size, key=lambda r: r.warm.p50 / r.floor.p50)
        worst_cold = max(of_size, key=lambda r: r.cold.p50 / r.floor.p50)
        target = FLOOR_TARGETS.get(steps)
        warm_ratio = worst_warm.warm.p50 / worst_warm.floor.p50
        cold_ratio = worst_cold.cold.p50 / worst_cold.floor.p50
        verdict = "-"
        if target is not None:
            verdict = "met" if warm_ratio <= target else "missed"
            verdict += " (cold: " + ("met" if cold_ratio <= target else "missed") + ")"
        body.append(
            [
                str(steps),
                f"≤ {target:g}x" if target is not None else "-",
                f"{warm_ratio:.2f}x ({worst_warm.label})",
                f"{cold_ratio:.2f}x ({worst_cold.label})",
                verdict,
            ]
        )
    return table(["steps", "target", "worst warm ÷ floor", "worst cold ÷ floor", "verdict"], body)


def growth_table(rows: Sequence[SyncRow]) -> list[str]:
    body = []
    sizes = sorted({r.steps for r in rows})
    if len(sizes) < 2:
        return ["(one size only: no fit)"]
    for shape in sorted({r.shape for r in rows}):
        for progress in sorted({r.progress for r in rows}):
            chosen = sorted(
                (r for r in rows if r.shape == shape and r.progress == progress),
                key=lambda r: r.steps,
            )
            if len(chosen) < 2:
                continue

            def fit(values: Sequence[tuple[int, float]]) -> str:
                return f"{measure.fitted_exponent(values):.2f}"

            all_warm = [(r.steps, r.warm.p50) for r in chosen]
            large = [r for r in chosen if r.steps >= 100] or chosen
            body.append(
                [
                    f"{shape} {progress}%",
                    fit(all_warm),
                    fit([(r.steps, r.warm.p50) for r in large]),
                    fit([(r.steps, r.cold.p50) for r in large]),
                    fit([(r.steps, r.floor.p50) for r in large]),
                    fit([(r.steps, r.request_bytes) for r in large]),
                ]
            )
    first = sizes[0]
    large_sizes = [s for s in sizes if s >= 100] or sizes
    span = f"{large_sizes[0]}-{large_sizes[-1]}"
    return table(
        [
            "flow",
            f"warm, {first}-{sizes[-1]}",
            f"warm, {span}",
            f"cold, {span}",
            f"floor, {span}",
            f"request bytes, {span}",
        ],
        body,
    )


def throughput_table(rows: Sequence[ThroughputRow]) -> list[str]:
    body = [
        [
            str(row.steps),
            size(row.request_bytes),
            str(row.load.clients),
            f"{row.load.seconds:.1f}",
            str(row.load.requests),
            f"{row.load.per_second:.0f}",
            f"{row.load.error_rate:.2%}",
            ms(row.load.latency.p50),
            ms(row.load.latency.p99),
        ]
        for row in rows
    ]
    return table(
        ["steps", "request", "clients", "seconds", "requests", "syncs/s", "errors", "p50", "p99"],
        body,
    )


def status_table(rows: Sequence[SyncRow], sizes: Sequence[int]) -> list[str]:
    chosen = [r for r in rows if r.steps in sizes]
    body = [
        [
            r.label,
            f"{r.status_bytes:,}",
            size(r.status_bytes),
            f"{r.status_bytes / r.steps:.0f}",
            "yes" if r.status_bytes < STATUS_LIMIT else "no",
            size(r.parent_bytes),
            "yes" if r.parent_bytes < ETCD_LIMIT else "no",
        ]
        for r in chosen
    ]
    header = ["flow", "status bytes", "size", "bytes/step", "< 1 MiB"]
    return table([*header, "whole JobFlow", "< 1.5 MiB"], body)


def step_example(step: dict[str, Any] | None) -> list[str]:
    if step is None:
        return []
    text = json.dumps(step, separators=(",", ":"))
    return [
        f"One finished step's entry ({len(text.encode())} bytes):",
        "",
        "```json",
        text,
        "```",
    ]


def simulation_table(rows: Sequence[SimulationRow]) -> list[str]:
    body = [
        [
            row.label,
            f"{row.syncs:,}",
            f"{row.lines:,}",
            f"{row.first_line:.1f}",
            f"{row.seconds:.1f}",
            f"{row.cpu_seconds:.1f}",
            f"{row.cpu_seconds / row.syncs * 1000:.1f}" if row.syncs else "-",
            row.outcome,
        ]
        for row in rows
    ]
    header = ["flow", "syncs", "timeline lines", "first line (s)", "whole run (s)", "CPU (s)"]
    return table([*header, "CPU per sync (ms)", "result"], body)


def simulation_lines(rows: Sequence[SimulationRow]) -> list[str]:
    if not rows:
        return ["(not measured)"]
    lines = [
        "`zen-flow simulate FILE` of the flows above (every Job succeeds after 10 s), run as a",
        "user runs it, in a process of its own: YAML read, timeline printed as it happens,",
        "summary at the end. *First line*: when the first line of the timeline was printed;",
        "*whole run*: until the command exited. CPU is the command's own, its start-up",
        "(about a second) included.",
        "",
        *simulation_table(rows),
        "",
        f"Target: a flow of {SIMULATION_TARGET_STEPS} steps, or a step over as many items or",
        f"more, simulated in under {SIMULATION_TARGET_SECONDS:.0f} s.",
        "",
    ]
    large = [row for row in rows if row.steps >= SIMULATION_TARGET_STEPS]
    for row in large:
        verdict = "met" if row.seconds < SIMULATION_TARGET_SECONDS else "missed"
        lines.append(f"- {row.label}: {row.seconds:.0f} s, {verdict}.")
    if not large:
        lines.append("(no flow of that size in this run)")
    missed = [
        r
        for r in large
        if r.shape == "chain" and r.syncs and r.seconds >= SIMULATION_TARGET_SECONDS
    ]
    if missed:
        chain = max(missed, key=lambda row: row.steps)
        per_sync = chain.cpu_seconds / chain.syncs * 1000
        lines += [
            "",
            f"A chain runs one step at a time: {chain.label} takes {chain.syncs:,} syncs (a Job",
            "finishes and the next one is created; the hook sees its new Job; nothing changes),",
            "and every sync carries the whole flow, its status and every Job so far, as",
            f"Metacontroller would send them. At {per_sync:.0f} ms a sync, hook and simulated",
            "Metacontroller together, the run is the number of syncs times the cost of a",
            "sync of a large flow (section 1): only a cheaper sync can shorten it.",
        ]
    lines += [
        "",
        "A flow holds at most 5000 steps (the API's limit), so the largest fan-out of steps",
        "simulated is 5000 steps, one root and 4999 dependents; *items/N* is one step over N",
        "items (`withItems`), one Indexed Job whatever N.",
    ]
    return lines


def memory_lines(result: MemoryResult | None) -> list[str]:
    if result is None:
        return ["(not measured)"]
    fresh = result.fresh
    lines = table(
        ["what", "peak RSS"],
        [
            ["fresh worker, app loaded", f"{fresh.loaded_kib / 1024:.0f} MiB"],
            [
                f"… and the {size(fresh.request_bytes)} request body read",
                f"{fresh.with_body_kib / 1024:.0f} MiB",
            ],
            [
                f"… after POST /sync ({result.label}, answer {size(fresh.response_bytes)})",
                f"{fresh.peak_kib / 1024:.0f} MiB",
            ],
        ]
        + [
            [f"gunicorn worker {n} after every benchmark request (VmHWM)", f"{kib / 1024:.0f} MiB"]
            for n, kib in enumerate(result.workers_kib, start=1)
        ],
    )
    return lines


def profile_lines(result: Profile) -> list[str]:
    kind = "cold (nothing cached)" if result.cold else "warm (caches filled)"
    lines = [f"{result.label}, {kind}: {ms(result.total)} ms under cProfile", ""]
    lines += table(
        ["function", "calls", "own ms", "cumulative ms"],
        [[f"`{name}`", str(calls), ms(own), ms(cum)] for name, calls, own, cum in result.top],
    )
    return lines


def gc_lines(rows: Sequence[GcRow]) -> list[str]:
    if not rows:
        return ["(not measured)"]
    threshold = rows[0].threshold
    body = [
        [
            row.label,
            ms(row.default_warm.p50),
            ms(row.raised_warm.p50),
            ms(row.default_cold.p50),
            ms(row.raised_cold.p50),
        ]
        for row in rows
    ]
    large = [row for row in rows if row.steps >= 100] or list(rows)
    if len(large) >= 2:

        def fit(pick: Any) -> str:
            return f"{measure.fitted_exponent([(r.steps, pick(r).p50) for r in large]):.2f}"

        body.append(
            [
                f"exponent, {large[0].steps}-{large[-1].steps} steps",
                fit(lambda r: r.default_warm),
                fit(lambda r: r.raised_warm),
                fit(lambda r: r.default_cold),
                fit(lambda r: r.raised_cold),
            ]
        )
    header = ["flow", "warm", f"warm, gen0 {threshold:,}", "cold", f"cold, gen0 {threshold:,}"]
    return table(header, body)


def markdown(results: Results) -> str:
    config = results.config
    date = datetime.now(UTC).strftime("%Y-%m-%d")
    lines = [
        "# Benchmarks",
        "",
        f"Measured on {date} with `{results.command}` ({results.seconds / 60:.1f} minutes), on:",
        "",
        *[f"- {line}" for line in machine()],
        "",
        "The machine is shared and noisy: read the numbers as orders of magnitude and ratios,",
        "not to the millisecond. Percentiles of the large requests rest on few samples",
        f"(at least {config.least} per measurement); their p99 is close to their maximum.",
        "",
        "## What is measured",
        "",
        "- **Flows**: a linear chain, a wide fan-out (one root, every other step depends on",
        "  it) and a layered random DAG (layers of sqrt(n) steps, each step depending on 1-3 steps",
        "  of the layer above, fixed seed), of "
        + ", ".join(str(s) for s in config.sizes)
        + " steps. Every step has a",
        "  realistic Job template (command, environment, resources), a retry policy and a timeout.",
        "- **Requests** at 0 %, 50 % and 100 % of the steps finished, made by driving the flow",
        "  with the real hook through `zen_flow.tools.sim.metacontroller.FakeMetacontroller`,",
        "  then inflating every Job to what the API server returns: uid, resourceVersion, the",
        "  Job controller's labels, ownerReferences, managedFields, the last-applied annotation",
        "  Metacontroller keeps,",
        "  the defaulted spec with its selector, and a full status. A Job is about 5 KiB; the",
        "  JobFlow carries its spec, its server-side-apply managedFields and its status.",
        "  (Requests of 0 % have few Jobs; requests of 100 % take the finished-flow path, which",
        "  re-emits children without planning.)",
        "- **warm**: `decode_request` + `sync` + `encode_response`, bytes to bytes, in process,",
        "  after an earlier sync of the same request filled the worker's caches (validated",
        "  specs, compiled `when` expressions, decoded children, status entries) — every sync",
        "  of a flow but its first in a worker.",
        "- **cold**: the same with every cache emptied first: the spec is parsed and validated,",
        "  every child decoded — a flow's first sync in a worker.",
        "- **floor**: the standard library reading the same request and writing the same answer",
        "  (`json.loads` + `json.dumps`), nothing else.",
        "- **typed floor**: msgspec decoding only the fields the hook reads (the `wire.py`",
        "  structs) and encoding the hook's answer: the I/O the hook cannot go below.",
        "- warm, cold, floor and typed floor are measured in turn, round after round, so",
        "  that whatever else the machine does weighs on each alike.",
        "- **HTTP**: a POST /sync round trip to gunicorn started with the project's own",
        "  configuration (2 gevent workers) on 127.0.0.1, from the first byte sent to the last",
        "  byte read.",
        "",
        "## 1. Sync cost by size (milliseconds)",
        "",
        *sync_table(results.rows),
        "",
        "## 2. Against the floor",
        "",
        "Targets: at most 3x the floor at 10 and 100 steps, at most 1x at 1000",
        "and 5000 steps (p50, worst flow of each size).",
        "",
        *target_table(results.rows),
        "",
        "Growth: the exponent b of a least-squares fit of p50 ∝ steps^b (log-log). 1.0 is",
        "linear; at 10 steps the fixed cost of a call dominates, hence two spans.",
        "",
        *growth_table(results.rows),
        "",
        "## 3. Throughput through gunicorn",
        "",
        f"{config.throughput_clients} client processes on the same machine posting the "
        f"{config.throughput_shape} flow at 50 % back to back for "
        f"{config.throughput_seconds:g} s each (or {config.throughput_max_requests:,} requests",
        "in all), against the configured 2 gevent workers; each client keeps its connection.",
        "Clients and workers share the machine's cores.",
        "",
        *throughput_table(results.throughput),
        "",
        "## 4. Status size",
        "",
        "Bytes of `.status` as written (compact JSON); target: under 1 MiB at 5000 steps. And",
        "the whole JobFlow object (metadata with managedFields, spec, status), which etcd",
        "must store: by default it refuses objects over 1.5 MiB.",
        "",
        *status_table(results.rows, config.status_sizes),
        "",
        *step_example(results.finished_step),
        "",
        "## 5. Memory",
        "",
        "Peak RSS (VmHWM) of a fresh worker process (`create_app` and Flask's test client, as",
        "in a gunicorn worker) answering the largest request of a flow still running; and the",
        "peak of the benchmark's gunicorn workers after they answered every request above",
        "(their spec cache holds the last validated specs).",
        "",
        *memory_lines(results.memory),
        "",
        "## Profile of the largest sync",
        "",
        "cProfile of one sync (its overhead inflates Python-level functions). Garbage",
        "collection has no entry of its own: its time lands in whichever function allocated",
        "the object that triggered a collection.",
        "",
    ]
    for result in results.profiles:
        lines += [*profile_lines(result), ""]
    lines += [
        "### Garbage collection",
        "",
        "The request, the cached spec and the status models of a large flow are hundreds of",
        "thousands of Python objects, and every collection of the oldest generation walks all",
        "of them; the number of such collections grows with the number of objects allocated.",
        "The same syncs with the first generation's threshold raised (everything else equal):",
        "",
        *gc_lines(results.gc),
        "",
    ]
    if results.hostile is not None:
        lines += [
            "## 6. Hostile input: bounded cost",
            "",
            "What anyone who may create a JobFlow (or reach the hooks) can make them spend.",
            "",
            *hostile.markdown(results.hostile),
            "",
        ]
    lines += [
        "## 7. Simulating large flows",
        "",
        *simulation_lines(results.simulations),
        "",
    ]
    lines += findings(results)
    return "\n".join(lines) + "\n"


def findings(results: Results) -> list[str]:
    """What the profile led to: the change made, and what is left for the hook's authors,
    with this run's numbers."""
    lines = [
        "## What the profile led to",
        "",
        "Changed:",
        "",
        "- `engine/wire.py`: the decoded request structs are declared `gc=False` (msgspec), so the",
        "  thousands of them a large request makes are not tracked by the cyclic collector:",
        "  they neither trigger collections nor lengthen them. Decoded JSON cannot form",
        "  reference cycles. On the 5000-step layered request at 50 %, warm p50 went down by",
        "  about 5-10 % (A/B when the change was made: three alternating runs of 15 syncs).",
        "",
        "- the planner (`engine/plan/`): each step's last status was copied with",
        "  `model_copy(deep=True)`, a Python-level `copy.deepcopy` of every nested model: the",
        "  largest entry of the warm profile. The planner only replaces fields, so it now",
        "  takes shallow copies and replaces `failed_attempts` instead of appending to it.",
        "- `api/`: nested models whose fields are plain values default to one shared",
        "  frozen instance; those with dict fields keep a `default_factory` (pydantic",
        "  deep-copies a default it cannot hash, which cost more than building a new one).",
        "- Status: `attemptStartTime` is written only for attempts after the first (it equals",
        "  `startTime` otherwise), and a succeeded step drops its `jobRef` (its Job is found",
        "  by label), to keep a 5000-step status under 1 MiB.",
        "- A sync of a large flow reads mostly what the flow's previous sync read. Decoded",
        "  children, with their observation, and the entries of status (validated, and their",
        "  encoding for a step that does not change) are cached by their exact bytes; the",
        "  step order and index are kept with the validated spec. The caches are bounded by",
        "  bytes (OPERATOR_GUIDE.md, Scaling the hooks); the warm figures above include them.",
        "- `zen-flow simulate` (section 7): the simulated Metacontroller deep-copied its",
        "  objects for every request and serialised every child again to compare it with",
        "  its last-applied configuration, three quarters of a simulated 200-step chain. It",
        "  now keeps objects as their JSON bytes, encoded once after they change, and parses",
        "  an answer's child only when its bytes differ from what was last applied.",
    ]
    if results.gc:
        big = results.gc[-1]
        large = [r for r in results.gc if r.steps >= 100] or results.gc
        before = measure.fitted_exponent([(r.steps, r.default_warm.p50) for r in large])
        after = measure.fitted_exponent([(r.steps, r.raised_warm.p50) for r in large])
        lines += [
            f"- Garbage collection: with the first generation's threshold at {big.threshold:,},",
            f"  the {big.label} sync took {big.raised_warm.p50 / big.default_warm.p50:.0%} of",
            f"  its time warm and {big.raised_cold.p50 / big.default_cold.p50:.0%} cold, and the",
            f"  warm growth exponent went from {before:.2f} to {after:.2f}. The `post_fork` hook",
            "  in `gunicorn_conf.py` now does this in every worker (`gc.freeze()`, then",
            "  `gc.set_threshold(50_000, 20, 100)`): the HTTP figures above include it, the",
            "  in-process ones (and the floor) run with the default thresholds.",
            "  The standard-library floor is superlinear for the same reason.",
        ]
    if results.spec_memory is not None:
        steps, retained = results.spec_memory
        lines += [
            "- The spec cache keeps the last validated specs of a worker; a validated",
            f"  {steps}-step spec of these flows holds {size(retained)} of Python objects",
            "  (tracemalloc), so a worker that meets several large flows keeps several times",
            "  that (see the workers' peaks above).",
        ]
    step = results.finished_step
    biggest = max(results.rows, key=lambda r: (r.steps, r.status_bytes), default=None)
    if step is not None and biggest is not None:
        full = len(json.dumps(step, separators=(",", ":")))
        per_step = biggest.spec_bytes / biggest.steps
        lines += [
            f"- Status: a finished step's entry is {full} bytes here, so the",
            f"  {biggest.label} status is {size(biggest.status_bytes)}"
            + (" (over the 1 MiB target)." if biggest.status_bytes >= STATUS_LIMIT else "."),
            f"  More pressing: the spec of these flows is {per_step:.0f} bytes a step, so",
            "  the spec alone passes etcd's 1.5 MiB object limit at about"
            f" {ETCD_LIMIT / per_step:,.0f} steps: a flow that large needs compact templates.",
        ]
    return lines


def terminal(results: Results) -> str:
    """The tables of the report, for the terminal."""
    lines = [
        "Sync cost (ms)",
        *sync_table(results.rows),
        "",
        "Against the floor",
        *target_table(results.rows),
        "",
        "Growth exponents",
        *growth_table(results.rows),
        "",
        "Throughput",
        *throughput_table(results.throughput),
        "",
        "Status size",
        *status_table(results.rows, results.config.status_sizes),
        "",
        "Memory",
        *memory_lines(results.memory),
        "",
        "Garbage collection",
        *gc_lines(results.gc),
        "",
        "Simulating large flows",
        *simulation_table(results.simulations),
    ]
    for result in results.profiles:
        lines += ["", *profile_lines(result)]
    return "\n".join(lines) + "\n"
