"""The JobFlow API as kubectl users meet it: get, wait, explain, and what is refused."""

from __future__ import annotations

import re

import yaml

from e2e.cluster import Cluster
from e2e.flows import chain, jobflow, step
from e2e.kube import condition, describe_flow, steps_of, wait_for


def test_kubectl_wait_and_get_show_phase_progress_and_age(cluster: Cluster, ns: str) -> None:
    kube = cluster.kube
    kube.apply(chain("listed", 2, run_for="1s"), ns)
    # Issued while the flow runs: returns once the condition holds.
    kube.kubectl("wait", "--for=condition=Complete", "jobflow/listed", "--timeout=90s", "-n", ns)
    table = kube.kubectl("get", "jf", "-n", ns).stdout.splitlines()
    assert re.split(r"\s{2,}", table[0].strip()) == ["NAME", "PHASE", "PROGRESS", "AGE"]
    row = table[1].split()
    assert row[:3] == ["listed", "Succeeded", "2/2"], table
    assert re.fullmatch(r"\d+s", row[3]), table
    wide = kube.kubectl("get", "jobflows", "-n", ns, "-o", "wide").stdout.splitlines()
    assert "REASON" in wide[0]
    for name in ("jobflow", "flow"):
        assert "listed" in kube.kubectl("get", name, "-n", ns).stdout


def test_kubectl_explain_documents_the_steps(cluster: Cluster) -> None:
    text = cluster.kube.kubectl("explain", "jobflow.spec.steps").stdout
    assert "KIND:" in text and "JobFlow" in text
    for field in (
        "name",
        "dependencies",
        "template",
        "retryPolicy",
        "timeoutSeconds",
        "when",
        "continueOnFailure",
    ):
        assert re.search(rf"^\s+{field}\s", text, re.M), f"explain lacks {field}:\n{text}"
    status = cluster.kube.kubectl("explain", "jobflow.status.steps").stdout
    assert "retryCount" in status and "phase" in status


def test_api_server_refuses_a_step_that_depends_on_itself(cluster: Cluster, ns: str) -> None:
    flow = jobflow("selfish", [step("a", ["a"])])
    result = cluster.kube.kubectl("apply", "-n", ns, "-f", "-", stdin=_yaml(flow), check=False)
    assert result.returncode != 0
    assert 'step "a" depends on itself' in result.stderr
    assert cluster.kube.flow(ns, "selfish") is None


def test_duplicate_steps_are_an_invalid_spec_and_duplicate_dependencies_refused(
    cluster: Cluster, ns: str
) -> None:
    # Steps are one atomic list (a list keyed by name would cost managedFields some 550 KB
    # at 5000 steps, and a CEL rule for unique names is over the API server's budget): the
    # hooks name the duplicate.
    twice = jobflow("twice", [step("a"), step("a")])
    cluster.kube.kubectl("apply", "-n", ns, "-f", "-", stdin=_yaml(twice))
    flow = cluster.kube.wait_flow(ns, "twice", phases=("Failed",), timeout=60)
    invalid = condition(flow, "InvalidSpec")
    assert invalid and invalid["status"] == "True"
    assert 'spec.steps[1].name: duplicate step name "a" (also spec.steps[0])' in invalid["message"]
    repeated = jobflow("repeated", [step("a"), step("b", ["a", "a"])])
    result = cluster.kube.kubectl("apply", "-n", ns, "-f", "-", stdin=_yaml(repeated), check=False)
    assert result.returncode != 0
    assert "Duplicate value" in result.stderr and "dependencies" in result.stderr


def test_a_cycle_is_an_invalid_spec_until_it_is_fixed(cluster: Cluster, ns: str) -> None:
    kube = cluster.kube
    kube.apply(jobflow("loop", [step("a", ["c"]), step("b", ["a"]), step("c", ["b"])]), ns)
    flow = kube.wait_flow(ns, "loop", phases=("Failed",), timeout=60)
    invalid = condition(flow, "InvalidSpec")
    assert invalid and invalid["status"] == "True", describe_flow(flow)
    assert flow["status"]["reason"] == "InvalidSpec"
    assert all(name in invalid["message"] for name in ("a", "b", "c")), invalid["message"]
    assert "cycle" in invalid["message"].lower(), invalid["message"]
    assert kube.jobs_of(ns, "loop") == [], "an invalid flow starts nothing"
    # Level-triggered: once the spec is valid again the flow goes on.
    kube.apply(jobflow("loop", [step("a"), step("b", ["a"]), step("c", ["b"])]), ns)
    fixed_generation = flow["metadata"]["generation"] + 1
    wait_for(
        "the hooks to act on the fixed spec (status.observedGeneration)",
        lambda: (
            (kube.flow(ns, "loop") or {}).get("status", {}).get("observedGeneration")
            == fixed_generation
        ),
        60,
        detail=lambda: describe_flow(kube.flow(ns, "loop")),
    )
    done = kube.wait_flow(ns, "loop", timeout=90)
    assert {s["phase"] for s in steps_of(done).values()} == {"Succeeded"}
    fixed = condition(done, "InvalidSpec")
    assert fixed is None or fixed["status"] == "False", describe_flow(done)


def _yaml(obj: object) -> str:
    return yaml.safe_dump(obj)
