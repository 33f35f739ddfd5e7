"""The flow's phase as a function of its steps."""

from __future__ import annotations

from tests.support.flows import jobflow, step
from tests.support.passes import context, pending, state
from zen_flow.api.reasons import FlowReason, StepReason
from zen_flow.api.status import FlowPhase, StepPhase
from zen_flow.engine.plan.phase import first_blocking_failure, flow_phase

FLOW = jobflow("f", step("a"), step("b", continueOnFailure=True))


def test_every_step_done_without_an_intolerable_failure_is_success() -> None:
    steps = [state("a", StepPhase.SUCCEEDED), state("b", StepPhase.FAILED)]
    verdict = flow_phase(context(FLOW), steps)
    assert (verdict.phase, verdict.reason) == (FlowPhase.SUCCEEDED, FlowReason.ALL_STEPS_DONE)


def test_an_intolerable_failure_fails_the_flow_once_nothing_runs() -> None:
    steps = [
        state("a", StepPhase.FAILED, reason="BackoffLimitExceeded"),
        state("b", StepPhase.RUNNING),
    ]
    assert flow_phase(context(FLOW), steps).phase is FlowPhase.RUNNING
    steps[1] = state("b", StepPhase.SKIPPED)
    verdict = flow_phase(context(FLOW), steps)
    assert (verdict.phase, verdict.reason) == (FlowPhase.FAILED, FlowReason.STEP_FAILED)
    assert verdict.message == 'step "a" failed: BackoffLimitExceeded'


def test_a_passed_deadline_is_the_reason_of_the_failure() -> None:
    flow = jobflow("f", step("a"), step("b"), executionPolicy={"activeDeadlineSeconds": 5})
    ctx = context(flow, status={"startTime": "2026-03-01T11:00:00Z"})
    steps = [
        state("a", StepPhase.FAILED, reason="BackoffLimitExceeded"),
        state("b", StepPhase.SKIPPED, reason=StepReason.DEADLINE_EXCEEDED),
    ]
    verdict = flow_phase(ctx, steps)
    assert (verdict.phase, verdict.reason) == (FlowPhase.FAILED, FlowReason.DEADLINE_EXCEEDED)


def test_suspension_annotation_or_suspended_jobs_suspend_the_flow() -> None:
    steps = [state("a", StepPhase.RUNNING, reason=StepReason.JOB_RUNNING), pending("b")]
    assert flow_phase(context(FLOW, suspended=True), steps).phase is FlowPhase.SUSPENDED
    steps[0] = state("a", StepPhase.RUNNING, reason=StepReason.JOB_SUSPENDED)
    verdict = flow_phase(context(FLOW), steps)
    assert (verdict.phase, verdict.reason) == (FlowPhase.SUSPENDED, FlowReason.JOB_SUSPENDED)


def test_nothing_started_is_pending_and_says_why() -> None:
    steps = [pending("a"), pending("b")]
    assert flow_phase(context(FLOW), steps).reason == FlowReason.NOT_STARTED
    flow = jobflow(
        "f", step("a"), resourceTemplates={"configMapTemplates": [{"metadata": {"name": "c"}}]}
    )
    assert flow_phase(context(flow), [pending("a")]).reason == FlowReason.WAITING_FOR_RESOURCES


def test_first_blocking_failure_ignores_tolerated_ones() -> None:
    steps = [state("b", StepPhase.FAILED), state("a", StepPhase.FAILED)]
    cause = first_blocking_failure(context(FLOW), steps)
    assert cause is not None and cause.name == "a"
    assert first_blocking_failure(context(FLOW), steps[:1]) is None
