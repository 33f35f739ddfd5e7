"""The end-to-end suite's fixtures: one control plane per session, one namespace per test.

Run with `make e2e` (or `.venv/bin/pytest e2e`); `make test` never collects this folder.
Logs of every component are in e2e/.work/logs/; when a test fails, the state of its
namespace (flows, Jobs, pods, events) is written there too.
"""

from __future__ import annotations

import re
import signal
import uuid
from collections.abc import Generator, Iterator
from types import FrameType

import pytest

from e2e.cluster import Binaries, Cluster, create_namespace


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config: pytest.Config) -> None:
    # SIGTERM (CI cancelling the job) tears the control plane down like Ctrl-C does.
    signal.signal(signal.SIGTERM, _interrupt)


FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed:
        item.stash.setdefault(FAILED, True)
    return report


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    try:
        binaries = Binaries.build()
    except RuntimeError as error:
        pytest.exit(str(error), returncode=2)
    with Cluster(binaries) as started:
        print(f"\ncontrol plane ready in {started.timings['ready']:.1f}s; logs in {started.logs}")
        yield started


@pytest.fixture
def ns(cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace for one test; deleted afterwards, its state saved if the test failed."""
    base = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")
    name = f"{base[:50].rstrip('-')}-{uuid.uuid4().hex[:6]}"
    create_namespace(cluster.kube, name)
    yield name
    if request.node.stash.get(FAILED, False):
        dump_namespace(cluster, name)
    cluster.supervisor.check()
    cluster.kube.kubectl("delete", "namespace", name, "--wait=false", check=False)


def dump_namespace(cluster: Cluster, namespace: str) -> None:
    """What a failed test left behind, for the logs folder."""
    parts = []
    for what in ("jobflows", "jobs", "pods", "configmaps", "persistentvolumeclaims", "events"):
        result = cluster.kube.kubectl("get", what, "-n", namespace, "-o", "yaml", check=False)
        parts.append(f"# kubectl get {what} -n {namespace} -o yaml\n{result.stdout}{result.stderr}")
    (cluster.logs / f"namespace-{namespace}.yaml").write_text("\n".join(parts))
