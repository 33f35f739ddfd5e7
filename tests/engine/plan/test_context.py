"""The pass context: the flow deadline and whether the flow's resources exist."""

from __future__ import annotations

from datetime import timedelta

from tests.support.flows import T0, jobflow, step
from tests.support.passes import context


def test_deadline_counts_from_the_flows_start_time() -> None:
    flow = jobflow("f", step("a"), executionPolicy={"activeDeadlineSeconds": 60})
    started = {"startTime": "2026-03-01T11:59:30Z"}
    ctx = context(flow, status=started, now=T0)
    assert ctx.deadline == T0 + timedelta(seconds=30)
    assert not ctx.deadline_passed
    assert context(flow, status=started, now=T0 + timedelta(seconds=30)).deadline_passed


def test_a_flow_not_started_starts_now() -> None:
    flow = jobflow("f", step("a"), executionPolicy={"activeDeadlineSeconds": 60})
    ctx = context(flow, now=T0)
    assert ctx.start_time == T0
    assert ctx.deadline == T0 + timedelta(seconds=60)


def test_no_deadline_never_passes() -> None:
    ctx = context(now=T0 + timedelta(days=400))
    assert ctx.deadline is None and not ctx.deadline_passed


def test_resources_are_ready_only_once_every_copy_is_observed() -> None:
    flow = jobflow(
        "f",
        step("a"),
        resourceTemplates={"configMapTemplates": [{"metadata": {"name": "cfg"}}]},
    )
    assert not context(flow).resources_ready
    assert context(jobflow("f", step("a"))).resources_ready


def test_tolerated_is_continue_on_failure() -> None:
    ctx = context(jobflow("f", step("a"), step("b", continueOnFailure=True)))
    assert not ctx.tolerated("a")
    assert ctx.tolerated("b")
