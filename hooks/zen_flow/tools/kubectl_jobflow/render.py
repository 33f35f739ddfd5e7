"""What the plugin prints: a flow's steps as a table or as its DAG, and the list of flows.

Pure functions of a ``FlowView`` and ``now``; the DAG's layers come from
``zen_flow.tools.diagram``, as in ``zen-flow graph --format text``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from zen_flow.api.spec import JobFlowSpec, Step
from zen_flow.api.status import JobFlowStatus, StepPhase, StepStatus
from zen_flow.spec.dag import topological_order
from zen_flow.tools import diagram
from zen_flow.tools.kubectl_jobflow.flows import FlowView, StepView

NONE = "-"
STEP_COLUMNS = ["STEP", "PHASE", "ATTEMPT", "DURATION", "REASON", "MESSAGE"]
_MESSAGE_PHASES = frozenset(
    {StepPhase.PENDING.value, StepPhase.FAILED.value, StepPhase.SKIPPED.value}
)


def human_duration(seconds: float) -> str:
    """``45s``, ``3m12s``, ``2h5m``, ``3d4h``: as precise as a glance needs."""
    whole = max(int(seconds), 0)
    minutes, secs = divmod(whole, 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d{hours}h"
    if hours:
        return f"{hours}h{minutes}m"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def flow_report(flow: FlowView, now: datetime) -> str:
    """``get NAME``: a summary line, then one row per step."""
    rows = [STEP_COLUMNS] + [_step_cells(flow, step, now) for step in flow.steps]
    return "\n".join([*_summary(flow, now), *table(rows)]) + "\n"


def flow_tree(flow: FlowView, now: datetime, markers: Mapping[diagram.Mark, str]) -> str:
    """``tree NAME``: the summary, then the steps layer by layer, each with what it waits for."""
    placed = set(topological_order({step.name: step.dependencies for step in flow.steps}))
    layers = diagram.nodes(_spec(flow, placed), _status(flow, placed))
    by_name = {step.name: step for step in flow.steps}
    groups: list[tuple[str, list[list[str]]]] = []
    finally_layers = 0
    for number, layer in enumerate(layers, start=1):
        rows = [_tree_cells(flow, by_name[node.name], node.mark, markers, now) for node in layer]
        if layer[0].final:
            finally_layers += 1
            groups.append((f"finally {finally_layers} (after every step)", rows))
        else:
            groups.append((f"layer {number}", rows))
    stuck = [step for step in flow.steps if step.name not in placed]
    if stuck:
        rows = [_tree_cells(flow, step, None, markers, now) for step in stuck]
        groups.append(("on or after a dependency cycle (the spec is invalid)", rows))
    aligned = iter(table([row for _, rows in groups for row in rows]))
    lines = _summary(flow, now)
    for title, rows in groups:
        lines.append(title)
        lines += ["  " + next(aligned) for _ in rows]
    return "\n".join(lines) + "\n"


def flow_list(flows: Sequence[FlowView], now: datetime, *, namespaces: bool) -> str:
    """``get`` without a name: like ``kubectl get jobflows``, with the approvals awaited."""
    header = ["NAME", "PHASE", "PROGRESS", "AWAITING APPROVAL", "AGE"]
    rows = [(["NAMESPACE"] if namespaces else []) + header]
    for flow in flows:
        age = human_duration((now - flow.created).total_seconds()) if flow.created else NONE
        cells = [flow.name, _phase(flow.phase), flow.progress]
        cells += [",".join(flow.awaiting_approval) or NONE, age]
        rows.append(([flow.namespace] if namespaces else []) + cells)
    return "\n".join(table(rows)) + "\n"


def table(rows: Sequence[Sequence[str]]) -> list[str]:
    """Rows with their columns aligned, three spaces apart, as kubectl prints them."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))] if rows else []
    return [
        "   ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def _summary(flow: FlowView, now: datetime) -> list[str]:
    state = _phase(flow.phase) + (f" ({flow.reason})" if flow.reason else "")
    line = f"JobFlow {flow.namespace}/{flow.name}: {state}, {flow.progress} steps done"
    if flow.start_time and flow.completion_time:
        line += f", took {human_duration((flow.completion_time - flow.start_time).total_seconds())}"
    elif flow.start_time:
        line += f", started {human_duration((now - flow.start_time).total_seconds())} ago"
    lines = [line]
    if flow.message:
        lines.append(f"message: {' '.join(flow.message.split())}")
    if flow.rerun_token:
        lines.append(f"last rerun: {flow.rerun_token}")
    return lines


def _step_cells(flow: FlowView, step: StepView, now: datetime) -> list[str]:
    attempt = str(step.attempt) if step.attempt else NONE
    duration = _duration(step, now)
    return [
        step.name,
        _phase(step.phase),
        attempt,
        duration,
        step.reason or NONE,
        _message(flow, step),
    ]


def _tree_cells(
    flow: FlowView,
    step: StepView,
    mark: diagram.Mark | None,
    markers: Mapping[diagram.Mark, str],
    now: datetime,
) -> list[str]:
    after = "after " + ", ".join(step.dependencies) if step.dependencies else ""
    notes = [f"when {step.when}"] if step.when else []
    if step.continue_on_failure:
        notes.append("(continues on failure)")
    message = _message(flow, step)
    attempt = f"#{step.attempt}" if step.attempt else NONE
    return [
        f"{markers[mark] if mark is not None else ' '} {step.name}",
        _phase(step.phase),
        attempt,
        _duration(step, now),
        step.reason or NONE,
        after,
        "  ".join([*notes, message] if message else notes),
    ]


def _message(flow: FlowView, step: StepView) -> str:
    """A fan-out step's items, and the message of a step that failed, was skipped or waits."""
    text = _step_message(flow, step)
    return f"{step.items}; {text}" if step.items and text else step.items or text


def _step_message(flow: FlowView, step: StepView) -> str:
    if step.awaiting_approval and not step.message:
        return f"approve or reject: kubectl jobflow approve {flow.name} {step.name}"
    if step.backoff_wait:
        due = f"next attempt at {step.next_retry_time}" if step.next_retry_time else ""
        return step.message or due
    return step.message if _phase(step.phase) in _MESSAGE_PHASES else ""


def _duration(step: StepView, now: datetime) -> str:
    if step.start_time is None:
        return NONE
    end = step.completion_time or now
    return human_duration((end - step.start_time).total_seconds())


def _phase(phase: str) -> str:
    """A flow or step without status has not started: it is Pending."""
    return phase or StepPhase.PENDING.value


def _spec(flow: FlowView, placed: set[str]) -> JobFlowSpec:
    """The steps the DAG drawing needs, built without validation: approval steps have no
    template, and a flow the hooks call invalid is still shown as it is."""
    drawn = [
        (
            step.final,
            Step.model_construct(
                name=step.name,
                dependencies=list(step.dependencies),
                when=step.when or None,
                continue_on_failure=step.continue_on_failure,
            ),
        )
        for step in flow.steps
        if step.name in placed
    ]
    return JobFlowSpec.model_construct(
        steps=[step for final, step in drawn if not final],
        finally_=[step for final, step in drawn if final],
    )


def _status(flow: FlowView, placed: set[str]) -> JobFlowStatus:
    """The phases the markers show; a phase this version does not know is drawn as Pending."""
    known = {phase.value for phase in StepPhase}
    steps = [
        StepStatus.model_construct(
            name=step.name, phase=StepPhase(step.phase), reason=step.reason or None
        )
        for step in flow.steps
        if step.name in placed and step.phase in known
    ]
    return JobFlowStatus.model_construct(steps=steps)
