"""What holds a step that has not started, in order: deadline, upstream failure,
dependencies, suspension, resources, ``when``."""

from __future__ import annotations

from tests.support.flows import jobflow, step
from tests.support.passes import context, pending, state
from zen_flow.api.reasons import StepReason
from zen_flow.api.status import StepPhase
from zen_flow.engine.plan.gates import Verdict, dependencies_met, pending_gate, when_holds

FLOW = jobflow("f", step("a"), step("b", "a"))


def test_a_step_whose_dependencies_succeeded_starts() -> None:
    ctx = context(FLOW)
    states = {"a": state("a", StepPhase.SUCCEEDED), "b": pending("b")}
    assert pending_gate(ctx, ctx.steps["b"], states, None).verdict is Verdict.START


def test_unfinished_dependencies_make_it_wait() -> None:
    ctx = context(FLOW)
    states = {"a": state("a", StepPhase.RUNNING), "b": pending("b")}
    gate = pending_gate(ctx, ctx.steps["b"], states, None)
    assert (gate.verdict, gate.reason) == (Verdict.WAIT, StepReason.WAITING_FOR_DEPENDENCIES)


def test_skipped_and_tolerated_failures_satisfy_dependents() -> None:
    flow = jobflow("f", step("a", continueOnFailure=True), step("s"), step("b", "a", "s"))
    ctx = context(flow)
    states = {
        "a": state("a", StepPhase.FAILED),
        "s": state("s", StepPhase.SKIPPED),
        "b": pending("b"),
    }
    assert dependencies_met(ctx, ctx.steps["b"], states)
    states["a"] = state("a", StepPhase.RUNNING)
    assert not dependencies_met(ctx, ctx.steps["b"], states)


def test_an_upstream_failure_skips_the_step() -> None:
    ctx = context(FLOW)
    states = {"a": state("a", StepPhase.FAILED), "b": pending("b")}
    gate = pending_gate(ctx, ctx.steps["b"], states, "a")
    assert (gate.verdict, gate.reason) == (Verdict.SKIP, StepReason.UPSTREAM_FAILED)
    assert gate.message == 'step "a" failed'


def test_the_deadline_comes_before_everything() -> None:
    flow = jobflow("f", step("a"), executionPolicy={"activeDeadlineSeconds": 5})
    ctx = context(flow, status={"startTime": "2026-03-01T11:00:00Z"}, suspended=True)
    gate = pending_gate(ctx, ctx.steps["a"], {"a": pending("a")}, "other")
    assert (gate.verdict, gate.reason) == (Verdict.SKIP, StepReason.DEADLINE_EXCEEDED)


def test_suspension_holds_a_ready_step() -> None:
    ctx = context(FLOW, suspended=True)
    gate = pending_gate(ctx, ctx.steps["a"], {"a": pending("a"), "b": pending("b")}, None)
    assert (gate.verdict, gate.reason) == (Verdict.WAIT, StepReason.SUSPENDED)


def test_missing_resources_hold_a_ready_step() -> None:
    flow = jobflow(
        "f",
        step("a"),
        resourceTemplates={"volumeClaimTemplates": [{"metadata": {"name": "d"}, "spec": {}}]},
    )
    ctx = context(flow)
    gate = pending_gate(ctx, ctx.steps["a"], {"a": pending("a")}, None)
    assert (gate.verdict, gate.reason) == (Verdict.WAIT, StepReason.WAITING_FOR_RESOURCES)


def test_a_false_when_skips_and_a_true_one_starts() -> None:
    flow = jobflow("f", step("a"), step("b", "a", when="steps.a.phase == 'Failed'"))
    ctx = context(flow)
    states = {"a": state("a", StepPhase.SUCCEEDED), "b": pending("b")}
    gate = pending_gate(ctx, ctx.steps["b"], states, None)
    assert (gate.verdict, gate.reason) == (Verdict.SKIP, StepReason.CONDITION_FALSE)
    states["a"] = state("a", StepPhase.FAILED)
    flow_tolerant = jobflow(
        "f", step("a", continueOnFailure=True), step("b", "a", when="steps.a.phase == 'Failed'")
    )
    ctx = context(flow_tolerant)
    assert pending_gate(ctx, ctx.steps["b"], states, None).verdict is Verdict.START


def test_a_when_that_cannot_be_evaluated_fails_the_step() -> None:
    flow = jobflow("f", step("a"), step("b", "a", when="steps.a.outputs.missing == 'x'"))
    ctx = context(flow)
    states = {"a": state("a", StepPhase.SUCCEEDED), "b": pending("b")}
    gate = pending_gate(ctx, ctx.steps["b"], states, None)
    assert (gate.verdict, gate.reason) == (Verdict.FAIL, StepReason.CONDITION_ERROR)


def test_when_reads_phases_and_outputs() -> None:
    states = {"a": state("a", StepPhase.SUCCEEDED, outputs={"n": "3"})}
    assert when_holds("steps.a.outputs.n == '3' && steps.a.phase == 'Succeeded'", states)
    assert not when_holds("steps['a'].outputs.n == '4'", states)
