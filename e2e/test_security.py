"""The trust boundary: a namespace user who edits a child's bookkeeping annotation must not
make Metacontroller (which has cluster-wide rights) create anything outside the flow's
namespace, nor make the flow lose its own children."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest

from e2e.cluster import Cluster
from e2e.flows import jobflow, step
from e2e.kube import Kube, Obj, wait_for
from e2e.watch import Watch

LAST_APPLIED = "metacontroller.k8s.io/last-applied-configuration"
USER = "namespace-user"
ELSEWHERE = "kube-system"
ROUNDS = 3


def namespace_user(kube: Kube, namespace: str) -> None:
    """A user with the built-in `edit` role in ``namespace`` only."""
    kube.apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "namespace-user-edits", "namespace": namespace},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "edit",
            },
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": USER}],
        }
    )
    denied = kube.kubectl("--as", USER, "get", "jobs", "-n", ELSEWHERE, check=False)
    assert denied.returncode != 0, "the user must have no rights outside its namespace"


def planted_job(name: str) -> Obj:
    """What the hostile annotation describes: a Job in another namespace."""
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": ELSEWHERE},
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "x", "image": "busybox:1.36", "command": ["id"]}],
                }
            }
        },
    }


@pytest.fixture
def planted(cluster: Cluster) -> Iterator[str]:
    name = f"planted-{uuid.uuid4().hex[:6]}"
    yield name
    cluster.kube.kubectl("delete", "job", name, "-n", ELSEWHERE, "--ignore-not-found", check=False)


class Outside:
    """Watches (cluster-wide) for any Job, pod, ConfigMap or PVC outside the flow's namespace
    that belongs to the flow (its controller-uid label) or bears the planted name. A watch
    sees an object even if the garbage collector deletes it a moment later."""

    def __init__(self, kube: Kube, namespace: str, uid: str, planted: str) -> None:
        self.namespace, self.uid, self.planted = namespace, uid, planted
        self.seen: set[str] = set()
        self.watches = [
            Watch(kube, resource, None, self._event).start()
            for resource in ("jobs", "pods", "configmaps", "persistentvolumeclaims")
        ]

    def _event(self, kind: str, obj: Obj, arrived: float) -> None:
        meta = obj["metadata"]
        if meta.get("namespace") == self.namespace:
            return
        labels = meta.get("labels") or {}
        if (
            labels.get("controller-uid") == self.uid
            or meta["name"] == self.planted
            or labels.get("job-name") == self.planted
        ):
            self.seen.add(f"{obj['kind']} {meta['namespace']}/{meta['name']}")

    def stop(self) -> None:
        for watch in self.watches:
            watch.stop()


def drive_syncs(cluster: Cluster, namespace: str, name: str, outside: Outside) -> int:
    """Make Metacontroller sync the flow a few times while ``outside`` watches.

    Each change to the flow is a sync. A sync's hook call is logged before Metacontroller
    applies the answer, and the next call of the same flow comes only once it has: after the
    third call, at least two answers given with the edited annotation in view were applied.
    Returns how many changes were followed by a sync call within 20 s.
    """
    calls = 0
    for round_ in range(ROUNDS):
        before = cluster.hooks.sync_calls(namespace, name)
        cluster.kube.kubectl(
            "annotate", "jobflow", name, f"e2e.zen-flow.io/poke={round_}", "--overwrite",
            "-n", namespace,
        )  # fmt: skip

        def probe(start: int = before) -> bool:
            return cluster.hooks.sync_calls(namespace, name) > start

        try:
            wait_for(f"a sync call of {namespace}/{name}", probe, 20, interval=0.1)
        except AssertionError:
            continue
        calls += 1
    outside.stop()
    return calls


def assert_contained(outside: Outside, namespace: str, calls: int) -> None:
    assert outside.seen == set(), (
        f"created outside namespace {namespace} (Metacontroller has cluster-wide rights): "
        f"{sorted(outside.seen)}"
    )
    assert calls == ROUNDS, f"the flow was synced after {calls} of {ROUNDS} changes only"


def assert_same(before: Obj, after: Obj | None, what: str) -> None:
    """The very same object (same uid) is still there: not deleted, nor deleted and re-made."""
    assert after is not None and not after["metadata"].get("deletionTimestamp"), (
        f"{what} was deleted"
    )
    assert after["metadata"]["uid"] == before["metadata"]["uid"], (
        f"{what} was deleted and created again (uid changed)"
    )


def edit_last_applied(kube: Kube, namespace: str, kind: str, name: str, planted: str) -> None:
    """What a namespace user may do: point a child's bookkeeping annotation elsewhere."""
    kube.kubectl(
        "--as", USER, "annotate", kind, name, "-n", namespace, "--overwrite",
        f"{LAST_APPLIED}={json.dumps(planted_job(planted))}",
    )  # fmt: skip


def test_hostile_annotation_on_a_configmap_child(cluster: Cluster, ns: str, planted: str) -> None:
    kube = cluster.kube
    namespace_user(kube, ns)
    flow = jobflow(
        "guarded",
        [step("only")],
        resourceTemplates={
            "configMapTemplates": [{"metadata": {"name": "settings"}, "data": {"a": "b"}}]
        },
    )
    kube.apply(flow, ns)
    done = kube.wait_flow(ns, "guarded")
    before = kube.get("configmaps", "guarded-settings", ns)
    assert before is not None
    outside = Outside(kube, ns, done["metadata"]["uid"], planted)
    edit_last_applied(kube, ns, "configmap", "guarded-settings", planted)
    calls = drive_syncs(cluster, ns, "guarded", outside)
    after = kube.get("configmaps", "guarded-settings", ns)
    assert_contained(outside, ns, calls)
    assert_same(before, after, "the flow's own ConfigMap")


def test_hostile_annotation_on_a_job_of_a_running_flow(
    cluster: Cluster, ns: str, planted: str
) -> None:
    kube = cluster.kube
    namespace_user(kube, ns)
    kube.apply(jobflow("busy", [step("long", run_for="30s"), step("after", ["long"])]), ns)
    wait_for("the Job of step long", lambda: kube.jobs_of(ns, "busy"), 60)
    flow = kube.flow(ns, "busy")
    assert flow is not None
    outside = Outside(kube, ns, flow["metadata"]["uid"], planted)
    (job,) = kube.jobs_of(ns, "busy")
    edit_last_applied(kube, ns, "job", job["metadata"]["name"], planted)
    calls = drive_syncs(cluster, ns, "busy", outside)
    after = kube.get("jobs", job["metadata"]["name"], ns)
    assert_contained(outside, ns, calls)
    assert_same(job, after, "the flow's running Job")
