"""Crashes and outages mid-flow: hook replicas, Metacontroller, its leader. Every flow
finishes, with exactly one Job per step attempt: nothing is created twice or re-run."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from e2e.cluster import Cluster
from e2e.flows import jobflow, step
from e2e.kube import Obj, condition, steps_of, wait_for
from e2e.scenario import FlowWatch, attempts_by_step

# How long every hook replica stays down in the outage scenario.
OUTAGE_SECONDS = 20


def pipeline(name: str, part_runs_for: str = "3s") -> Obj:
    """A fan-out and fan-in of short steps, long enough to be interrupted in the middle."""
    return jobflow(
        name,
        [
            step("start", run_for="2s"),
            *(step(f"part-{i}", ["start"], run_for=part_runs_for) for i in range(3)),
            step("gather", [f"part-{i}" for i in range(3)], run_for="2s"),
            step("publish", ["gather"], run_for="2s"),
            step("notify", ["publish"]),
        ],
    )


@pytest.fixture
def restored(cluster: Cluster) -> Iterator[Cluster]:
    """Whatever a scenario broke is running again afterwards: every hook replica, and one
    Metacontroller without leader election."""
    yield cluster
    for replica in cluster.hooks.replicas:
        if not replica.process.alive():
            cluster.hooks.start_replica(replica.index)
    cluster.hooks.wait_all_up()
    cluster.metacontrollers.reset()


def finish_and_check(watch: FlowWatch, timeout: float = 180) -> None:
    done = watch.until_phase("Succeeded", timeout=timeout)
    assert {s["phase"] for s in steps_of(done).values()} == {"Succeeded"}
    jobs = watch.kube.jobs_of(watch.namespace, watch.name)
    assert all(attempts == ["1"] for attempts in attempts_by_step(jobs).values()), jobs
    assert len(jobs) == len(done["spec"]["steps"])
    watch.assert_one_job_per_attempt()


def test_one_hook_replica_killed_mid_flow(restored: Cluster, ns: str) -> None:
    cluster = restored
    cluster.kube.apply(pipeline("crash-one"), ns)
    watch = FlowWatch(cluster.kube, ns, "crash-one")
    watch.step_running("part-0")
    cluster.hooks.kill(0)
    finish_and_check(watch)


def test_every_hook_replica_down_for_a_while(restored: Cluster, ns: str) -> None:
    cluster = restored
    # The parts outlast the outage: their Jobs finish once the hooks are back.
    cluster.kube.apply(pipeline("outage", part_runs_for="40s"), ns)
    watch = FlowWatch(cluster.kube, ns, "outage")
    watch.step_running("part-0")
    cluster.hooks.kill_all()
    cluster.hooks.wait_all_down()
    stalled = watch.poll()
    # The outage itself: no hook answers for OUTAGE_SECONDS while the Jobs run on.
    time.sleep(OUTAGE_SECONDS)
    during = watch.poll()
    assert during is not None and stalled is not None
    assert during["status"] == stalled["status"], "nothing can write status without the hooks"
    for replica in cluster.hooks.replicas:
        cluster.hooks.start_replica(replica.index)
    cluster.hooks.wait_all_up()
    finish_and_check(watch)


def test_outage_while_jobs_finish_then_metacontroller_restart(restored: Cluster, ns: str) -> None:
    """Every running Job ends while no hook answers. Metacontroller has been retrying the
    flow with a growing delay (minutes by then) and no child changes any more: the recovery
    the disaster-recovery guide gives, restarting Metacontroller, resyncs it at once."""
    cluster = restored
    cluster.kube.apply(pipeline("quiet"), ns)
    watch = FlowWatch(cluster.kube, ns, "quiet")
    watch.step_running("part-0")
    cluster.hooks.kill_all()
    outage = time.monotonic()
    wait_for(
        "every part's Job to complete while the hooks are down",
        lambda: (
            sum(
                1
                for job in cluster.kube.jobs_of(ns, "quiet")
                if job["metadata"]["labels"]["workflow.zen.io/step"].startswith("part-")
                and (condition(job, "Complete") or {}).get("status") == "True"
            )
            == 3
        ),
        60,
    )
    time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - outage)))  # the outage's length
    for replica in cluster.hooks.replicas:
        cluster.hooks.start_replica(replica.index)
    cluster.hooks.wait_all_up()
    (instance,) = cluster.metacontrollers.running
    cluster.metacontrollers.stop(instance)
    cluster.metacontrollers.start()
    finish_and_check(watch, timeout=60)


def test_metacontroller_restarted_mid_flow(restored: Cluster, ns: str) -> None:
    cluster = restored
    (instance,) = cluster.metacontrollers.running
    cluster.kube.apply(pipeline("restart"), ns)
    watch = FlowWatch(cluster.kube, ns, "restart")
    watch.step_running("part-1")
    cluster.metacontrollers.kill(instance)
    cluster.metacontrollers.start()
    finish_and_check(watch)


def test_leader_killed_with_two_metacontrollers(restored: Cluster, ns: str) -> None:
    cluster = restored
    metacontrollers = cluster.metacontrollers
    for instance in list(metacontrollers.running):
        metacontrollers.stop(instance)
    metacontrollers.start(leader_election=True)
    metacontrollers.start(leader_election=True)
    leader = metacontrollers.leader()
    cluster.kube.apply(pipeline("takeover"), ns)
    watch = FlowWatch(cluster.kube, ns, "takeover")
    watch.step_running("part-2")
    metacontrollers.kill(leader)
    survivor = metacontrollers.leader(timeout=60)
    assert survivor is not leader
    finish_and_check(watch)
