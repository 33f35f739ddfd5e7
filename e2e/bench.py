"""Figures on a real control plane, written into docs/BENCHMARKS.md (`make bench-e2e`).

    .venv/bin/python -m e2e.bench                          # print them
    .venv/bin/python -m e2e.bench --write docs/BENCHMARKS.md

What a flow costs against the same Jobs without zen-flow, measured in the same run on the
same control plane (e2e/cluster.py): latency from one step to the next in a 20-step chain
against one bare Job's create→Complete, fan-outs of 100 and 400 parallel steps against as
many bare Jobs created at once, and a 5000-step flow written with a named template, applied
and run to the end, its size watched. Times are taken from watch events as they arrive.
Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from bench import sections
from e2e.cluster import Binaries, Cluster, create_namespace
from e2e.flows import job_template, jobflow, layered_flow, step
from e2e.kube import Kube, Obj, describe_flow, wait_for
from e2e.watch import Timings

# etcd's default --max-request-bytes: the most one object can take.
ETCD_LIMIT = 1_572_864
LAYER_WIDTH = 100


@dataclass(frozen=True)
class Plan:
    chain: int = 20  # steps of the chain
    singles: int = 10  # bare Jobs, one after the other
    fan_outs: tuple[int, ...] = (100, 400)  # parallel steps of each fan-out
    large: int = 5000  # steps of the large flow


FULL = Plan()
QUICK = Plan(chain=5, singles=3, fan_outs=(20,), large=300)  # tries the code, not figures


@contextmanager
def scratch_namespace(kube: Kube, label: str) -> Iterator[str]:
    """A namespace for one measurement, deleted (and waited for) afterwards, so that one
    measurement's clean-up does not slow the next one down."""
    name = f"bench-{label}-{uuid.uuid4().hex[:5]}"
    create_namespace(kube, name)
    yield name  # on an error, the control plane goes anyway: no need to clean up
    kube.kubectl("delete", "namespace", name, "--wait=false")
    wait_for(f"namespace {name} to be deleted", lambda: not kube.get("namespaces", name), 900)


def post(kube: Kube, resource: str, namespace: str, obj: Obj) -> float:
    """Create ``obj``; the time the API server answered."""
    found = kube.request("POST", kube.path(resource, namespace), obj)
    assert found is not None
    return time.monotonic()


def bare_job(name: str) -> Obj:
    job = job_template()
    job["metadata"] = {"name": name}
    return job


def until(what: str, test: Callable[[], bool], timeout: float) -> None:
    wait_for(what, test, timeout, interval=0.05)


# --- measurements ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Chain:
    steps: int
    step_to_step: list[float]  # step k's Job created - step k-1's Job complete, seconds
    per_step: float  # whole flow (create → Succeeded) ÷ steps
    bare: list[float]  # one bare Job's create → Complete, each


def measure_chain(kube: Kube, plan: Plan, log: Callable[[str], None]) -> Chain:
    with scratch_namespace(kube, "bare") as ns:
        jobs = Timings(kube, "jobs", ns)
        bare = []
        for i in range(plan.singles):
            name = f"bare-{i}"
            started = time.monotonic()
            post(kube, "jobs", ns, bare_job(name))
            until(f"bare Job {name} to complete", lambda n=name: n in jobs.completed, 120)  # type: ignore[misc]
            bare.append(jobs.completed[name] - started)
        jobs.stop()
    log(f"bare Job create→Complete: median {statistics.median(bare):.2f}s of {bare}")
    with scratch_namespace(kube, "chain") as ns:
        jobs = Timings(kube, "jobs", ns)
        flows = Timings(kube, "jobflows", ns)
        steps = [step(f"s{i:02d}", [f"s{i - 1:02d}"] if i else []) for i in range(plan.chain)]
        started = time.monotonic()
        post(kube, "jobflows", ns, jobflow("chain", steps))
        until("the chain to finish", lambda: "chain" in flows.completed, 600)
        finished = flows.completed["chain"]
        final = flows.latest["chain"]
        assert final["status"]["phase"] == "Succeeded", describe_flow(final)
        by_step = {
            job["metadata"]["labels"]["workflow.zen.io/step"]: name
            for name, job in jobs.latest.items()
        }
        gaps = [
            jobs.created[by_step[f"s{i:02d}"]] - jobs.completed[by_step[f"s{i - 1:02d}"]]
            for i in range(1, plan.chain)
        ]
        jobs.stop()
        flows.stop()
    median = statistics.median(gaps)
    log(f"chain of {plan.chain}: {finished - started:.1f}s, step to step median {median:.3f}s")
    return Chain(plan.chain, gaps, (finished - started) / plan.chain, bare)


@dataclass(frozen=True)
class FanOut:
    width: int
    flow_seconds: float  # root → width parallel steps, create → Succeeded
    bare_seconds: float  # width + 1 Jobs created at once, first create → last Complete


def measure_fan_out(kube: Kube, width: int, log: Callable[[str], None]) -> FanOut:
    with scratch_namespace(kube, f"bare{width}") as ns:
        jobs = Timings(kube, "jobs", ns)
        started = time.monotonic()
        for i in range(width + 1):
            post(kube, "jobs", ns, bare_job(f"bare-{i}"))
        until(f"{width + 1} bare Jobs to complete", lambda: len(jobs.completed) == width + 1, 1800)
        bare = max(jobs.completed.values()) - started
        jobs.stop()
    log(f"{width + 1} bare Jobs at once: {bare:.1f}s")
    with scratch_namespace(kube, f"fan{width}") as ns:
        flows = Timings(kube, "jobflows", ns)
        leaves = [step(f"leaf-{i:03d}", ["root"]) for i in range(width)]
        # No join: a step depends on at most 100 others (the CRD's maxItems).
        flow = jobflow("fan-out", [step("root"), *leaves])
        started = time.monotonic()
        post(kube, "jobflows", ns, flow)
        until(f"the fan-out of {width} to finish", lambda: "fan-out" in flows.completed, 1800)
        seconds = flows.completed["fan-out"] - started
        final = flows.latest["fan-out"]
        assert final["status"]["phase"] == "Succeeded", describe_flow(final)
        flows.stop()
    log(f"fan-out of {width}: {seconds:.1f}s")
    return FanOut(width, seconds, bare)


@dataclass(frozen=True)
class Large:
    """The large flow of ``e2e.flows.layered_flow`` (one named template), applied and run."""

    steps: int
    width: int
    applied_bytes: int  # the object as the API server stored it, first
    largest_bytes: int  # the largest version of it seen, status included
    versions: int  # versions of it seen (each status write is one)
    seconds: float  # apply → Succeeded
    first_status: float  # apply → its first status


def measure_large(kube: Kube, plan: Plan, log: Callable[[str], None]) -> Large:
    """A flow of ``plan.large`` steps in layers of 100, applied server-side (a client-side
    apply copies the spec into an annotation, limited to 256 KiB), run to the end; its size
    taken from every version a watch sees."""
    with scratch_namespace(kube, "large") as ns:
        flows = Timings(kube, "jobflows", ns)
        flow = layered_flow("large", plan.large // LAYER_WIDTH, LAYER_WIDTH)
        started = time.monotonic()
        kube.kubectl(
            "apply", "--server-side", "-n", ns, "-f", "-", stdin=json.dumps(flow), timeout=300
        )
        until(
            "the large flow to finish",
            lambda: "large" in flows.completed or not flows.watch.alive(),
            3 * 3600,
        )
        assert flows.watch.alive(), "the watch ended early: versions of the flow were missed"
        seconds = flows.completed["large"] - started
        final = flows.latest["large"]
        assert final["status"]["phase"] == "Succeeded", describe_flow(final)[:3000]
        first_status = flows.first_status["large"] - started
        time.sleep(2)  # the last versions
        flows.stop()
        sizes = flows.sizes["large"]
    log(f"{plan.large} steps: Succeeded in {seconds:.0f} s, largest {max(sizes)} bytes")
    return Large(plan.large, LAYER_WIDTH, sizes[0], max(sizes), len(sizes), seconds, first_status)


# --- report ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    plan: Plan
    chain: Chain
    fan_outs: list[FanOut]
    large: Large | None
    versions: list[str]
    started: datetime
    seconds: float


def kib(count: int) -> str:
    return f"{count / 1024:,.0f} KiB"


def markdown(figures: Figures) -> str:
    chain = figures.chain
    bare = statistics.median(chain.bare)
    lines = [
        "## On a real control plane",
        "",
        f"Measured by `make bench-e2e` on {figures.started:%Y-%m-%d} in "
        f"{figures.seconds / 60:.0f} minutes, on the control plane of `make e2e` (one machine, "
        "everything on loopback): " + ", ".join(figures.versions) + ". Three hook servers "
        "(`zen-flow serve`, 2 workers each) behind HAProxy. kwok plays the pods: Pending, "
        "Running and Succeeded at once, so what is left is the control plane's own pace (the "
        "Job controller batches pod updates for a second) and what zen-flow adds to it. Every "
        "flow is compared with the same Jobs created without zen-flow, in the same run; times "
        "come from watch events as they arrive.",
        "",
        "| what | with zen-flow | bare Jobs | ratio |",
        "|---|---|---|---|",
        f"| {chain.steps}-step chain, per step (create → Succeeded ÷ {chain.steps}) vs one Job's "
        f"create → Complete (median of {len(chain.bare)}) | {chain.per_step:.2f} s | "
        f"{bare:.2f} s | {chain.per_step / bare:.2f} |",
        f"| {chain.steps}-step chain, step to step: a Job complete → the next step's Job created "
        f"(median; max) | {statistics.median(chain.step_to_step):.2f} s; "
        f"{max(chain.step_to_step):.2f} s | - | - |",
    ]
    for fan in figures.fan_outs:
        lines.append(
            f"| fan-out: root → {fan.width} parallel steps, create → Succeeded, vs "
            f"{fan.width + 1} Jobs created at once, first create → last Complete | "
            f"{fan.flow_seconds:.0f} s | {fan.bare_seconds:.0f} s | "
            f"{fan.flow_seconds / fan.bare_seconds:.2f} |"
        )
    lines.append("")
    if figures.large is not None:
        lines += large_paragraphs(figures.large)
    return "\n".join(lines)


def large_paragraphs(large: Large) -> list[str]:
    return [
        f"**A {large.steps}-step flow.** {large.steps // large.width} layers of "
        f"{large.width} steps, each step depending on one of the layer above, every step "
        "naming one template of `spec.templates` (a one-container Job), applied with "
        f"`kubectl apply --server-side`: it ran to the end (Succeeded) in "
        f"**{large.seconds / 60:.1f} minutes**, its first status stored "
        f"{large.first_status:.0f} s after the apply. As stored it was "
        f"{kib(large.applied_bytes)} when created, and at most **{kib(large.largest_bytes)}** "
        f"({large.largest_bytes / ETCD_LIMIT:.0%} of etcd's 1.5 MiB) over the "
        f"{large.versions} versions a watch saw.",
        "",
    ]


def versions(binaries: Binaries, kube: Kube) -> list[str]:
    server = json.loads(kube.kubectl("version", "-o", "json").stdout)["serverVersion"]
    etcd = binaries.etcd.parent.name.removeprefix("etcd-")
    kwok = binaries.kwok.parent.name.removeprefix("kwok-")
    metacontroller = binaries.metacontroller.parent.name.removeprefix("metacontroller-")
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return [
        f"Kubernetes {server['gitVersion']}",
        f"etcd {etcd}",
        f"kwok {kwok}",
        f"Metacontroller {metacontroller.rsplit('-', 1)[0]}",
        f"{cpu} ({len(os.sched_getaffinity(0))} cores)",
        f"Python {platform.python_version()}",
    ]


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", metavar="PATH", help="write the section into PATH")
    parser.add_argument(
        "--no-large", action="store_true", help="skip the large flow (the longest part)"
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes: tries the code only")
    args = parser.parse_args(argv)

    def log(text: str) -> None:
        print(f"[{datetime.now(UTC):%H:%M:%S}] {text}", file=sys.stderr, flush=True)

    # SIGTERM stops the run like Ctrl-C: the control plane is torn down.
    signal.signal(signal.SIGTERM, _interrupt)
    plan = QUICK if args.quick else FULL
    if args.quick and args.write:
        parser.error("--quick figures are not worth writing down")
    binaries = Binaries.build()
    started = datetime.now(UTC)
    clock = time.monotonic()
    with Cluster(binaries) as cluster:
        kube = cluster.kube
        log(f"control plane ready; logs in {cluster.logs}")
        chain = measure_chain(kube, plan, log)
        fan_outs = [measure_fan_out(kube, width, log) for width in plan.fan_outs]
        large = None if args.no_large else measure_large(kube, plan, log)
        figures = Figures(
            plan,
            chain,
            fan_outs,
            large,
            versions(binaries, kube),
            started,
            time.monotonic() - clock,
        )
    text = markdown(figures)
    print(text)
    if args.write:
        target = Path(args.write)
        target.write_text(sections.replace(target.read_text(), sections.E2E, text))
        log(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
