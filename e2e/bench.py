"""Figures on a real control plane, written into docs/BENCHMARKS.md (`make bench-e2e`).

    .venv/bin/python -m e2e.bench                          # print them
    .venv/bin/python -m e2e.bench --write docs/BENCHMARKS.md

What a flow costs against the same Jobs without zen-flow, measured in the same run on the
same control plane (e2e/cluster.py): latency from one step to the next in a 20-step chain
against one bare Job's create→Complete, fan-outs of 100 and 400 parallel steps against as
many bare Jobs created at once, and the largest flow the API server accepts, applied and run
to the end. Times are taken from watch events as they arrive. Nothing here asserts a time.
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
from e2e.flows import job_template, jobflow, step
from e2e.kube import Kube, KubectlError, Obj, condition, describe_flow, wait_for
from e2e.watch import Watch

# The CRD's own cap on spec.steps (maxItems); the search never goes beyond.
CRD_MAX_STEPS = 5000


@dataclass(frozen=True)
class Plan:
    chain: int = 20  # steps of the chain
    singles: int = 10  # bare Jobs, one after the other
    fan_outs: tuple[int, ...] = (100, 400)  # parallel steps of each fan-out
    max_steps: int = CRD_MAX_STEPS  # where the search for the largest flow starts


FULL = Plan()
QUICK = Plan(chain=5, singles=3, fan_outs=(20,), max_steps=300)  # tries the code, not figures


# --- watching ----------------------------------------------------------------------------------


class Timings:
    """When each object of a watch was first seen, and first seen finished (a Job Complete or
    Failed, a flow Succeeded or Failed), by name; and its latest state."""

    def __init__(self, kube: Kube, resource: str, namespace: str) -> None:
        self.resource = resource
        self.created: dict[str, float] = {}
        self.completed: dict[str, float] = {}
        self.first_status: dict[str, float] = {}  # flows: when a status was first seen
        self.latest: dict[str, Obj] = {}
        self.watch = Watch(kube, resource, namespace, self._event).start()

    def _event(self, kind: str, obj: Obj, arrived: float) -> None:
        name = obj["metadata"]["name"]
        self.created.setdefault(name, arrived)
        self.latest[name] = obj
        if obj.get("status", {}).get("phase"):
            self.first_status.setdefault(name, arrived)
        if self._finished(obj):
            self.completed.setdefault(name, arrived)

    def _finished(self, obj: Obj) -> bool:
        if self.resource == "jobflows":
            return obj.get("status", {}).get("phase") in ("Succeeded", "Failed")
        found = condition(obj, "Complete") or condition(obj, "Failed")
        return bool(found and found.get("status") == "True")

    def stop(self) -> None:
        self.watch.stop()


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
class Limit:
    """The most steps a way of storing a flow took, and what was said beyond that."""

    steps: int
    refused_at: int | None  # the fewest steps refused (None: nothing refused up to the cap)
    refusal: str


@dataclass(frozen=True)
class Largest:
    client_side: Limit  # `kubectl apply` (client-side: the last-applied annotation)
    created: Limit  # `kubectl apply --server-side`: the spec alone
    created_status_written: bool  # did that flow, run, get a status from the hooks at all?
    finished: Limit  # the spec and the status it has once every step succeeded
    finished_bytes: int  # the run flow as stored once it finished
    seconds: float | None  # apply → Succeeded of the largest flow that can finish
    outcome: str
    first_status: float | None  # apply → its first status stored, in that run
    refused_writes: int  # status writes refused as too large during that run


def big_flow(steps: int, suspended: bool = True) -> Obj:
    """``steps`` independent steps with the smallest template the CRD accepts."""
    template = {
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "main", "image": "busybox:1.36"}],
                }
            }
        }
    }
    flow: Obj = {
        "apiVersion": "workflow.zen.io/v1alpha1",
        "kind": "JobFlow",
        "metadata": {"name": "big"},
        "spec": {"steps": [{"name": f"s{i:04d}", "template": template} for i in range(steps)]},
    }
    if suspended:
        flow["metadata"]["annotations"] = {"workflow.zen.io/suspended": "true"}
    return flow


def finished_status(steps: int, model: Obj) -> Obj:
    """The status the hooks write once every step of ``big_flow(steps)`` succeeded, copied
    from ``model``, a small finished flow's own status (its entry for step leaf-000)."""
    status: Obj = json.loads(json.dumps(model["status"]))
    (entry,) = [s for s in status["steps"] if s["name"] == "leaf-000"]
    status["steps"] = [{**entry, "name": f"s{i:04d}"} for i in range(steps)]
    status["progress"].update(
        totalSteps=steps, completedSteps=steps, successfulSteps=steps, summary=f"{steps}/{steps}"
    )
    return status


class Trial:
    """Flows of a given size, created in one namespace and removed again."""

    def __init__(self, kube: Kube, ns: str, logs: list[Path]) -> None:
        self.kube, self.ns, self.logs = kube, ns, logs
        self.log_sizes: dict[Path, int] = {}  # where each log stood when the flow was made

    def create(self, steps: int, server_side: bool, suspended: bool = True) -> str:
        """What the API server said when it refused the flow; empty when it stored it."""
        args = ["apply", "--server-side"] if server_side else ["apply"]
        text = json.dumps(big_flow(steps, suspended))
        self.log_sizes = {log: log.stat().st_size for log in self.logs}
        try:
            self.kube.kubectl(*args, "-n", self.ns, "-f", "-", stdin=text, timeout=300)
        except KubectlError as error:
            return " ".join(error.result.stderr.split())
        return ""

    def finish(self, steps: int, model: Obj) -> str:
        """Create the flow, let the hooks write its first status, then store the status it
        would have once every step succeeded."""
        refused = self.create(steps, server_side=True)
        if refused:
            return refused
        if not self.status_written():
            return "its first status was refused: etcdserver: request is too large"
        # The first statuses of a large flow can be rewritten for a while (two early syncs
        # stamped different start times): retry on a conflict until the status holds still.
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            flow = self.kube.flow(self.ns, "big")
            assert flow is not None
            flow["status"] = finished_status(steps, model)
            try:
                # As Metacontroller's own update: managedFields keep one entry for status.
                self.kube.kubectl(
                    "replace", "--subresource=status", "--field-manager=metacontroller",
                    "-n", self.ns, "-f", "-", stdin=json.dumps(flow), timeout=300,
                )  # fmt: skip
            except KubectlError as error:
                message = " ".join(error.result.stderr.split())
                if "Conflict" not in message:
                    return message
                time.sleep(1)  # Metacontroller wrote in between: read again
                continue
            return ""
        raise AssertionError("the status of jobflow big kept changing for 5 minutes")

    def status_written(self, timeout: float = 600) -> bool:
        """Whether the hooks' first status of the flow was stored, or else refused as too
        large (a SyncError event on the flow, or Metacontroller's log), waiting for either.
        A flow that is not suspended gets its Jobs created first: that takes a while."""
        refusal = f"can't update status for JobFlow {self.ns}/big: etcdserver: request is too"

        def probe() -> str | None:
            flow = self.kube.flow(self.ns, "big")
            assert flow is not None, "jobflow big is gone"
            if flow.get("status", {}).get("phase"):
                return "stored"
            uid = flow["metadata"]["uid"]
            events = self.kube.objects("events", self.ns)
            if any(
                e["involvedObject"].get("uid") == uid and "too large" in e.get("message", "")
                for e in events
            ):
                return "refused"
            if any(refusal in self._log_since_create(log) for log in self.logs):
                return "refused"
            return None

        return wait_for("a status or its refusal", probe, timeout, interval=1) == "stored"

    def _log_since_create(self, log: Path) -> str:
        with log.open("rb") as handle:
            handle.seek(self.log_sizes.get(log, 0))
            return handle.read().decode(errors="replace")

    def remove(self) -> None:
        """Delete the flow; if Metacontroller cannot finish (its status cannot be stored),
        remove the finalizer as docs/DISASTER_RECOVERY.md says."""
        self.kube.kubectl("delete", "jobflow", "big", "-n", self.ns, "--wait=false")
        try:
            wait_for("jobflow big to be gone", lambda: not self.kube.flow(self.ns, "big"), 30)
        except AssertionError:
            self.kube.kubectl(
                "patch", "jobflow", "big", "-n", self.ns, "--type=json",
                "-p", '[{"op":"remove","path":"/metadata/finalizers"}]',
            )  # fmt: skip
            wait_for("jobflow big to be gone", lambda: not self.kube.flow(self.ns, "big"), 60)


def bisect(
    most: int, refused: Callable[[int], str], what: str, log: Callable[[str], None]
) -> Limit:
    """The largest step count up to ``most`` that ``refused`` accepts (""), to within 1 %."""
    why = refused(most)
    if not why:
        return Limit(most, None, "")
    low, high, refusal = 0, most, why
    while high - low > max(1, low // 100):
        middle = (low + high) // 2
        why = refused(middle)
        log(f"  {what}, {middle} steps: {why or 'accepted'}")
        if why:
            high, refusal = middle, why
        else:
            low = middle
    return Limit(low, high, refusal)


def status_model(kube: Kube) -> Obj:
    """A small finished flow (root → leaf-000): the hooks' own status entries to copy."""
    with scratch_namespace(kube, "model") as ns:
        post(kube, "jobflows", ns, jobflow("model", [step("root"), step("leaf-000", ["root"])]))
        return kube.wait_flow(ns, "model", timeout=120)


def measure_largest(cluster: Cluster, plan: Plan, log: Callable[[str], None]) -> Largest:
    """The largest flows the API server takes: created with kubectl apply (client-side) and
    server-side; with the status it has once every step succeeded (created, then that status
    stored as Metacontroller would); then the largest that can finish, applied and run to
    the end."""
    kube = cluster.kube
    model = status_model(kube)
    with scratch_namespace(kube, "largest") as ns:
        trial = Trial(kube, ns, sorted(cluster.logs.glob("metacontroller-*.log")))

        def created(server_side: bool) -> Callable[[int], str]:
            def attempt(steps: int) -> str:
                refused = trial.create(steps, server_side)
                if not refused:
                    trial.remove()
                return refused

            return attempt

        def finishes(steps: int) -> str:
            refused = trial.finish(steps, model)
            if kube.flow(ns, "big"):
                trial.remove()
            return refused

        client_side = bisect(plan.max_steps, created(False), "kubectl apply", log)
        log(f"kubectl apply (client-side) takes {client_side.steps} steps")
        server_side = bisect(plan.max_steps, created(True), "kubectl apply --server-side", log)
        log(f"the API server takes {server_side.steps} steps: {server_side.refusal}")
        # As a user would: not suspended, so its first sync creates every Job.
        assert not trial.create(server_side.steps, server_side=True, suspended=False)
        status_written = trial.status_written()
        trial.remove()
        log(f"... and the hooks' status of that flow is stored: {status_written}")
        finished = bisect(server_side.steps, finishes, "with its finished status", log)
        log(f"the largest flow whose final status fits: {finished.steps} steps")
    with scratch_namespace(kube, "run-largest") as ns:
        flows = Timings(kube, "jobflows", ns)
        started = time.monotonic()
        kube.kubectl(
            "apply", "--server-side", "-n", ns, "-f", "-",
            stdin=json.dumps(big_flow(finished.steps, suspended=False)), timeout=300,
        )  # fmt: skip
        seconds: float | None = None
        finished_bytes = 0
        first_status: float | None = None
        refused = 0
        try:
            until("the largest flow to finish", lambda: "big" in flows.completed, 3 * 3600)
            seconds = flows.completed["big"] - started
            final = kube.flow(ns, "big")
            assert final is not None
            finished_bytes = len(json.dumps(final, separators=(",", ":")))
            outcome = final["status"]["phase"]
            first_status = flows.first_status.get("big")
            refused = sum(
                log_file.read_text(errors="replace").count(
                    f"can't update status for JobFlow {ns}/big"
                )
                for log_file in cluster.logs.glob("metacontroller-*.log")
            )
        except AssertionError as error:
            outcome = f"did not finish: {str(error).splitlines()[0]}"
            log(describe_flow(kube.flow(ns, "big"))[:3000])
        flows.stop()
    log(f"{finished.steps} steps: {outcome} in {seconds} s, {finished_bytes} bytes")
    log(f"... first status after {first_status} s, {refused} status writes refused")
    return Largest(
        client_side,
        server_side,
        status_written,
        finished,
        finished_bytes,
        seconds,
        outcome,
        None if first_status is None else first_status - started,
        refused,
    )


# --- report ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    plan: Plan
    chain: Chain
    fan_outs: list[FanOut]
    largest: Largest | None
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
    largest = figures.largest
    if largest is not None:
        lines += largest_paragraphs(largest, figures.plan)
    return "\n".join(lines)


def limit_text(limit: Limit, plan: Plan) -> str:
    if limit.refused_at is None:
        cap = " (the CRD's `maxItems`)" if plan.max_steps == CRD_MAX_STEPS else ""
        return f"nothing refused up to {plan.max_steps} steps{cap}"
    return f"{limit.refused_at} refused: `{limit.refusal[:160]}`"


def largest_paragraphs(largest: Largest, plan: Plan) -> list[str]:
    created = largest.created
    first_status = (
        "and the hooks' first status of it was stored"
        if largest.created_status_written
        else "but run as it is, it **never gets a status**: its Jobs are all created, and "
        "every status write is refused (`etcdserver: request is too large`)"
    )
    lines = [
        "**The largest flow.** Found by trying (bisection to within 1 %) with the smallest "
        "step the CRD accepts (a name and a one-container Job template), all steps "
        "independent. etcd stores the spec, the `managedFields` and the status as one object "
        "(1.5 MiB by default), so the limits are:",
        "",
        f"- created (`kubectl apply --server-side`, or `kubectl create`): at most "
        f"**{created.steps} steps** ({limit_text(created, plan)}), {first_status};",
        f"- with the status it has once every step succeeded, written as Metacontroller "
        f"writes it: at most **{largest.finished.steps} steps** "
        f"({limit_text(largest.finished, plan)}): the largest flow that can finish;",
        f"- `kubectl apply` without `--server-side`: at most "
        f"**{largest.client_side.steps} steps** ({limit_text(largest.client_side, plan)}): it "
        "copies the whole spec into the `kubectl.kubernetes.io/last-applied-configuration` "
        "annotation, and an object's annotations are limited to 256 KiB.",
        "",
    ]
    if largest.seconds is None:
        lines += [f"The largest flow that can finish was applied, and it {largest.outcome}.", ""]
        return lines
    ran = (
        f"That flow, {largest.finished.steps} steps, applied and ran to the end "
        f"({largest.outcome}) in **{largest.seconds / 60:.1f} minutes**; finished, it is "
        f"{kib(largest.finished_bytes)} as stored."
    )
    if largest.refused_writes == 0:
        ran += " Its status was written all along."
    else:
        first = (
            f"its first status was stored {largest.first_status / 60:.1f} minutes after the apply"
            if largest.first_status is not None
            else "no status was seen before it finished"
        )
        ran += (
            " While its steps ran, Metacontroller's status writes were refused as too large "
            f"{largest.refused_writes} times (a running step's entry names its Job, a "
            f"finished one's does not): {first}, and `kubectl get` showed no progress until "
            "then."
        )
    lines += [ran, ""]
    return lines


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
        "--no-largest", action="store_true", help="skip the largest flow (the longest part)"
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes: tries the code only")
    parser.add_argument(
        "--largest-only", action="store_true", help="only the largest flow (not written down)"
    )
    args = parser.parse_args(argv)

    def log(text: str) -> None:
        print(f"[{datetime.now(UTC):%H:%M:%S}] {text}", file=sys.stderr, flush=True)

    # SIGTERM stops the run like Ctrl-C: the control plane is torn down.
    signal.signal(signal.SIGTERM, _interrupt)
    plan = QUICK if args.quick else FULL
    if (args.quick or args.largest_only) and args.write:
        parser.error("--quick and --largest-only figures are not written down")
    binaries = Binaries.build()
    started = datetime.now(UTC)
    clock = time.monotonic()
    with Cluster(binaries) as cluster:
        kube = cluster.kube
        log(f"control plane ready; logs in {cluster.logs}")
        if args.largest_only:
            print("\n".join(largest_paragraphs(measure_largest(cluster, plan, log), plan)))
            return 0
        chain = measure_chain(kube, plan, log)
        fan_outs = [measure_fan_out(kube, width, log) for width in plan.fan_outs]
        largest = None if args.no_largest else measure_largest(cluster, plan, log)
        figures = Figures(
            plan,
            chain,
            fan_outs,
            largest,
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
