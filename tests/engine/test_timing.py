"""Time-driven behaviour through the real server on a virtual clock: retries, backoff,
timeouts, deadlines, ``when`` and suspend/resume. The server has no timers; everything
must follow from timestamps in status and ``resyncAfterSeconds``."""

from __future__ import annotations

import json
import random
from datetime import timedelta
from typing import Any

import pytest

from tests.support.flows import T0, jobflow, step
from zen_flow.api.times import parse_time
from zen_flow.tools.sim.jobs import finish_job, is_active
from zen_flow.tools.sim.metacontroller import FakeMetacontroller
from zen_flow.tools.sim.transports import HttpTransport


def step_status(cluster: FakeMetacontroller, name: str) -> dict[str, Any]:
    return next(s for s in cluster.status["steps"] if s["name"] == name)


def condition(cluster: FakeMetacontroller, kind: str) -> dict[str, Any]:
    return next(c for c in cluster.status["conditions"] if c["type"] == kind)


def active_job(cluster: FakeMetacontroller, step_name: str) -> dict[str, Any] | None:
    for job in cluster.jobs():
        labels = job["metadata"]["labels"]
        if labels["workflow.zen.io/step"] == step_name and is_active(job):
            return job
    return None


def run_failing_step(
    http: HttpTransport, retry_policy: dict[str, Any] | None, seed: int
) -> tuple[FakeMetacontroller, list[float]]:
    """Every attempt fails 2 s after it starts; the server is asked at random moments.

    Returns the cluster and, per retry, the seconds from the failure to the next start.
    """
    fields = {"retryPolicy": retry_policy} if retry_policy is not None else {}
    cluster = FakeMetacontroller(jobflow(f"retry-{seed}", step("work", **fields)), T0)
    rng = random.Random(seed)
    failed_at: dict[int, float] = {}
    for _ in range(2000):
        cluster.call(http)
        if cluster.status["phase"] in ("Succeeded", "Failed"):
            break
        elapsed = (cluster.now - T0).total_seconds()
        for job in cluster.jobs():
            if is_active(job) and elapsed - _offset(job["metadata"]["creationTimestamp"]) >= 2:
                finish_job(cluster, job["metadata"]["name"], succeeded=False)
                failed_at[_attempt(job)] = elapsed
        cluster.now += timedelta(seconds=rng.uniform(0.2, 1.5))
    retries = sorted((_attempt(job), job) for job in cluster.jobs() if _attempt(job) > 1)
    waits = [
        _offset(job["metadata"]["creationTimestamp"]) - failed_at[attempt - 1]
        for attempt, job in retries
    ]
    return cluster, waits


def _attempt(job: dict[str, Any]) -> int:
    return int(job["metadata"]["labels"]["workflow.zen.io/attempt"])


def _offset(timestamp: str) -> float:
    return (parse_time(timestamp) - T0).total_seconds()


@pytest.mark.parametrize(
    ("backoff", "delays"),
    [
        ({"type": "Fixed", "duration": "5s"}, [5, 5, 5]),
        ({"type": "Linear", "duration": "3s"}, [3, 6, 9]),
        ({"type": "Exponential", "duration": "2s", "factor": 3}, [2, 6, 18]),
        ({"type": "Exponential", "duration": "4s", "maxDelay": "10s"}, [4, 8, 10]),
        (None, [1, 2, 4]),
    ],
)
def test_backoff_gives_exact_attempts_and_never_starts_early(
    http: HttpTransport, backoff: dict[str, Any] | None, delays: list[int]
) -> None:
    policy: dict[str, Any] = {"limit": 3}
    if backoff is not None:
        policy["backoff"] = backoff
    cluster, waits = run_failing_step(http, policy, seed=len(delays) + sum(delays))
    attempts = sorted(
        int(j["metadata"]["labels"]["workflow.zen.io/attempt"]) for j in cluster.jobs()
    )
    assert attempts == [1, 2, 3, 4], "limit 3 means 4 attempts, each a new Job"
    status = step_status(cluster, "work")
    assert status["phase"] == "Failed"
    assert status["reason"] == "RetryLimitReached"
    assert status["retryCount"] == 3
    assert [f["attempt"] for f in status["failedAttempts"]] == [1, 2, 3, 4]
    # Waited at least the delay (the failure is seen up to one poll late, and due times
    # are whole seconds), and started within the poll interval after it was due.
    for waited, delay in zip(waits, delays, strict=True):
        assert waited >= delay - 1.0
        assert waited <= delay + 1.0 + 1.5


def test_no_retry_policy_means_one_attempt(http: HttpTransport) -> None:
    cluster, _ = run_failing_step(http, None, seed=7)
    assert len(cluster.jobs()) == 1
    assert step_status(cluster, "work")["reason"] == "BackoffLimitExceeded"


def test_backoff_wait_is_stable_and_requeues_exactly_when_due(http: HttpTransport) -> None:
    policy = {"limit": 1, "backoff": {"type": "Fixed", "duration": "30s"}}
    cluster = FakeMetacontroller(jobflow("wait", step("a", retryPolicy=policy)), T0)
    cluster.call(http)
    cluster.now += timedelta(seconds=10)
    finish_job(cluster, cluster.jobs()[0]["metadata"]["name"], succeeded=False)
    cluster.call(http)
    first = cluster.status
    status = step_status(cluster, "a")
    assert (status["phase"], status["reason"]) == ("Running", "BackoffWait")
    assert status["nextRetryTime"] == "2026-03-01T12:00:40Z"
    assert cluster.resync_after == 30
    cluster.now += timedelta(seconds=12.5)
    cluster.call(http)
    assert cluster.status == first, "nothing happened: status must not change"
    assert cluster.resync_after == 17.5
    cluster.now += timedelta(seconds=17.5)
    cluster.call(http)
    assert step_status(cluster, "a")["attempt"] == 2


def test_flow_backoff_limit_caps_retries_of_all_steps(http: HttpTransport) -> None:
    policy = {"limit": 5, "backoff": {"type": "Fixed", "duration": "1s"}}
    flow = jobflow(
        "capped",
        step("a", retryPolicy=policy),
        step("b", retryPolicy=policy),
        executionPolicy={"backoffLimit": 3},
    )
    cluster = FakeMetacontroller(flow, T0)
    for _ in range(40):
        cluster.call(http)
        for job in cluster.jobs():
            if is_active(job):
                finish_job(cluster, job["metadata"]["name"], succeeded=False)
        cluster.now += timedelta(seconds=2)
        if cluster.status["phase"] == "Failed":
            break
    retries = [step_status(cluster, n)["retryCount"] for n in ("a", "b")]
    assert sum(retries) == 3
    assert len(cluster.jobs()) == 5
    reasons = {step_status(cluster, n)["reason"] for n in ("a", "b")}
    assert "FlowBackoffLimitReached" in reasons
    assert cluster.status["phase"] == "Failed"


def test_hanging_step_fails_by_its_jobs_active_deadline(http: HttpTransport) -> None:
    template_limit = step("hang", timeoutSeconds=30, retryPolicy={"limit": 1})
    template_limit["template"]["spec"]["activeDeadlineSeconds"] = 600
    tighter = step("tight", timeoutSeconds=300)
    tighter["template"]["spec"]["activeDeadlineSeconds"] = 45
    cluster = FakeMetacontroller(jobflow("hang", template_limit, tighter), T0)
    cluster.call(http)
    hang = cluster.job("hang")
    tight = cluster.job("tight")
    assert hang is not None and tight is not None
    assert hang["spec"]["activeDeadlineSeconds"] == 30
    assert tight["spec"]["activeDeadlineSeconds"] == 45
    # Kubernetes enforces the deadline, even while the hooks are down.
    cluster.now += timedelta(seconds=30)
    finish_job(cluster, hang["metadata"]["name"], succeeded=False, reason="DeadlineExceeded")
    cluster.call(http)
    status = step_status(cluster, "hang")
    assert status["reason"] == "BackoffWait"
    assert status["failedAttempts"][0]["reason"] == "DeadlineExceeded"
    cluster.now += timedelta(seconds=1)
    cluster.call(http)
    second = cluster.job("hang", 2)
    assert second is not None
    cluster.now += timedelta(seconds=30)
    finish_job(cluster, second["metadata"]["name"], succeeded=False, reason="DeadlineExceeded")
    cluster.call(http)
    status = step_status(cluster, "hang")
    assert (status["phase"], status["reason"]) == ("Failed", "RetryLimitReached")
    assert "DeadlineExceeded" in status["message"]


def test_flow_deadline_bounds_new_jobs_and_fails_the_flow(http: HttpTransport) -> None:
    flow = jobflow(
        "deadline",
        step("a"),
        step("b", "a"),
        step("c", "b"),
        executionPolicy={"activeDeadlineSeconds": 100},
    )
    cluster = FakeMetacontroller(flow, T0)
    cluster.call(http)
    assert cluster.job("a")["spec"]["activeDeadlineSeconds"] == 100  # type: ignore[index]
    assert cluster.resync_after == 100
    cluster.now += timedelta(seconds=40)
    finish_job(cluster, cluster.job("a")["metadata"]["name"], succeeded=True)  # type: ignore[index]
    cluster.call(http)
    job_b = cluster.job("b")
    assert job_b is not None
    assert job_b["spec"]["activeDeadlineSeconds"] == 60, "new Jobs get the remaining time"
    assert cluster.resync_after == 60
    cluster.now += timedelta(seconds=60)
    cluster.call(http)  # the deadline passed; b's Job ends by its own deadline
    assert step_status(cluster, "c")["phase"] == "Skipped"
    assert step_status(cluster, "c")["reason"] == "DeadlineExceeded"
    assert cluster.status["phase"] == "Running", "b still runs until its Job ends"
    finish_job(cluster, job_b["metadata"]["name"], succeeded=False, reason="DeadlineExceeded")
    cluster.call(http)
    assert cluster.status["phase"] == "Failed"
    assert cluster.status["reason"] == "DeadlineExceeded"
    assert cluster.resync_after is None


@pytest.mark.parametrize(
    ("when", "runs"),
    [
        ("steps.a.phase == 'Succeeded'", True),
        ("steps.a.phase == 'Failed'", False),
        ("!(steps.a.phase == 'Succeeded') || steps['a'].phase == 'Skipped'", False),
        ("steps.a.phase == 'Succeeded' && true", True),
        ("always", True),
        ("never", False),
    ],
)
def test_when_decides_whether_a_step_runs(http: HttpTransport, when: str, runs: bool) -> None:
    flow = jobflow("cond", step("a"), step("b", "a", when=when), step("c", "b"))
    cluster = FakeMetacontroller(flow, T0)
    cluster.call(http)
    finish_job(cluster, cluster.job("a")["metadata"]["name"], succeeded=True)  # type: ignore[index]
    cluster.call(http)
    b = step_status(cluster, "b")
    if runs:
        assert b["phase"] == "Running"
    else:
        assert (b["phase"], b["reason"]) == ("Skipped", "ConditionFalse")
        assert cluster.job("c") is not None, "a skipped step satisfies its dependents"


@pytest.mark.parametrize(
    ("when", "message"),
    [
        ("steps.a.phase ==", "spec.steps[1].when: does not parse as CEL"),
        ("steps.z.phase == 'Succeeded'", 'spec.steps[1].when: refers to unknown step "z"'),
        ("steps.c.phase == 'Succeeded'", 'spec.steps[1].when: refers to "c"'),
        ("phase == 'Succeeded'", "spec.steps[1].when: unknown variable 'phase'"),
    ],
)
def test_invalid_when_is_an_invalid_spec(http: HttpTransport, when: str, message: str) -> None:
    flow = jobflow("badwhen", step("a"), step("b", "a", when=when), step("c"))
    cluster = FakeMetacontroller(flow, T0)
    cluster.call(http)
    assert cluster.status["reason"] == "InvalidSpec"
    assert message in condition(cluster, "InvalidSpec")["message"]


def test_suspend_mid_run_then_resume_to_completion(http: HttpTransport) -> None:
    flow = jobflow("pause", step("a"), step("b"), step("c", "a", "b"))
    cluster = FakeMetacontroller(flow, T0)
    cluster.call(http)
    job_a, job_b = cluster.job("a"), cluster.job("b")
    assert job_a is not None and job_b is not None
    job_b["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] = "batch"
    annotations = cluster.flow["metadata"].setdefault("annotations", {})
    annotations["workflow.zen.io/suspended"] = "true"
    cluster.now += timedelta(seconds=5)
    cluster.call(http)  # FakeMetacontroller rejects any change but spec.suspend
    assert cluster.status["phase"] == "Suspended"
    assert condition(cluster, "Suspended")["status"] == "True"
    assert job_a["spec"]["suspend"] is True
    assert "suspend" not in job_b["spec"], "Jobs queued by Kueue are never toggled"
    finish_job(cluster, job_b["metadata"]["name"], succeeded=True)
    cluster.now += timedelta(seconds=5)
    cluster.call(http)
    assert cluster.job("c") is None, "no new Jobs while suspended"
    annotations["workflow.zen.io/suspended"] = "false"
    cluster.now += timedelta(seconds=5)
    cluster.call(http)
    assert job_a["spec"]["suspend"] is False
    assert cluster.status["phase"] == "Running"
    assert condition(cluster, "Suspended")["status"] == "False"
    finish_job(cluster, job_a["metadata"]["name"], succeeded=True)
    cluster.call(http)
    job_c = cluster.job("c")
    assert job_c is not None and "suspend" not in job_c["spec"]
    finish_job(cluster, job_c["metadata"]["name"], succeeded=True)
    cluster.call(http)
    assert cluster.status["phase"] == "Succeeded"


def test_retry_due_while_suspended_starts_on_resume(http: HttpTransport) -> None:
    policy = {"limit": 2, "backoff": {"type": "Fixed", "duration": "10s"}}
    cluster = FakeMetacontroller(jobflow("pause-retry", step("a", retryPolicy=policy)), T0)
    cluster.call(http)
    finish_job(cluster, cluster.jobs()[0]["metadata"]["name"], succeeded=False)
    cluster.call(http)
    cluster.flow["metadata"]["annotations"] = {"workflow.zen.io/suspended": "true"}
    cluster.now += timedelta(seconds=60)
    cluster.call(http)
    assert len(cluster.jobs()) == 1
    assert cluster.resync_after is None, "nothing is due while suspended"
    del cluster.flow["metadata"]["annotations"]["workflow.zen.io/suspended"]
    cluster.call(http)
    assert len(cluster.jobs()) == 2


def test_finished_flow_is_quiescent(http: HttpTransport) -> None:
    cluster = FakeMetacontroller(jobflow("done", step("a")), T0)
    cluster.call(http)
    finish_job(cluster, cluster.jobs()[0]["metadata"]["name"], succeeded=True)
    cluster.call(http)
    assert cluster.status["phase"] == "Succeeded"
    body = json.dumps(cluster.request()).encode()
    answers = {http.post("/sync", body, T0 + timedelta(hours=h))[1] for h in (1, 5, 50)}
    assert len(answers) == 1
    answer = json.loads(answers.pop())
    assert "resyncAfterSeconds" not in answer
    assert answer["status"] == cluster.status
