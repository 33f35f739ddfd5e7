"""Drawings of a flow's DAG: Mermaid, Graphviz dot, or a layered listing for the terminal.

Steps are placed in layers by their longest chain of dependencies (layer 1 has none), in
declaration order within a layer; the finally steps come in layers of their own after all
the others, which they follow whatever happens. A step that fans out over items is drawn as
a stack, with how many items it has. With a status, each step is marked with its phase.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from zen_flow.api.reasons import StepReason
from zen_flow.api.spec import JobFlowSpec, Step
from zen_flow.api.status import JobFlowStatus, StepPhase, StepStatus
from zen_flow.spec.dag import topological_order


class Mark(StrEnum):
    """How a step looks: its phase, with suspension told apart from plain waiting."""

    PENDING = "pending"
    RUNNING = "running"
    SUSPENDED = "suspended"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"


UNICODE_MARKERS: Mapping[Mark, str] = {
    Mark.PENDING: "·",
    Mark.RUNNING: "⟳",
    Mark.SUSPENDED: "⏸",
    Mark.SUCCEEDED: "✓",
    Mark.FAILED: "✗",
    Mark.SKIPPED: "⊘",
}
ASCII_MARKERS: Mapping[Mark, str] = {
    Mark.PENDING: ".",
    Mark.RUNNING: "~",
    Mark.SUSPENDED: "=",
    Mark.SUCCEEDED: "+",
    Mark.FAILED: "x",
    Mark.SKIPPED: "-",
}

_MERMAID_STYLE: Mapping[Mark, str] = {
    Mark.PENDING: "fill:#f1f3f5,stroke:#868e96,color:#212529",
    Mark.RUNNING: "fill:#d0ebff,stroke:#1971c2,color:#0b3d6e",
    Mark.SUSPENDED: "fill:#fff3bf,stroke:#e67700,color:#5c3c00",
    Mark.SUCCEEDED: "fill:#d3f9d8,stroke:#2b8a3e,color:#1b4332",
    Mark.FAILED: "fill:#ffe3e3,stroke:#c92a2a,color:#5c0a0a",
    Mark.SKIPPED: "fill:#f8f9fa,stroke:#adb5bd,color:#868e96,stroke-dasharray:4 3",
}
_DOT_COLOUR: Mapping[Mark, tuple[str, str]] = {  # (fill, border)
    Mark.PENDING: ("#f1f3f5", "#868e96"),
    Mark.RUNNING: ("#d0ebff", "#1971c2"),
    Mark.SUSPENDED: ("#fff3bf", "#e67700"),
    Mark.SUCCEEDED: ("#d3f9d8", "#2b8a3e"),
    Mark.FAILED: ("#ffe3e3", "#c92a2a"),
    Mark.SKIPPED: ("#f8f9fa", "#adb5bd"),
}
_PHASE_MARK = {
    StepPhase.PENDING: Mark.PENDING,
    StepPhase.RUNNING: Mark.RUNNING,
    StepPhase.SUCCEEDED: Mark.SUCCEEDED,
    StepPhase.FAILED: Mark.FAILED,
    StepPhase.SKIPPED: Mark.SKIPPED,
}
_SUSPENDED_REASONS = frozenset({StepReason.JOB_SUSPENDED, StepReason.SUSPENDED})


@dataclass(frozen=True)
class Node:
    """A step as drawn: where it goes, what it waits for, and its state if known."""

    name: str
    layer: int
    dependencies: tuple[str, ...]
    when: str | None
    continue_on_failure: bool
    status: StepStatus | None
    final: bool = False  # a finally step
    items: str | None = None  # a fan-out step's: "for each of 3 items, 2 at once"

    @property
    def mark(self) -> Mark | None:
        if self.status is None:
            return None
        if self.status.reason in _SUSPENDED_REASONS and self.status.phase in (
            StepPhase.PENDING,
            StepPhase.RUNNING,
        ):
            return Mark.SUSPENDED
        return _PHASE_MARK[self.status.phase]


def nodes(spec: JobFlowSpec, status: JobFlowStatus | None = None) -> list[list[Node]]:
    """The steps by layer (longest dependency chain), in declaration order within a layer;
    then the finally steps, by layer among themselves."""
    main = _layers(spec.steps)
    final = _layers(spec.finally_, start=max(main.values(), default=-1) + 1)
    layer = {**main, **final}
    by_name = {s.name: s for s in status.steps} if status is not None else {}
    layers: list[list[Node]] = [[] for _ in range(max(layer.values(), default=-1) + 1)]
    for step in spec.all_steps:
        state = by_name.get(step.name)
        if status is not None and state is None:
            state = StepStatus(name=step.name, phase=StepPhase.PENDING)
        layers[layer[step.name]].append(
            Node(
                name=step.name,
                layer=layer[step.name] + 1,
                dependencies=tuple(step.dependencies),
                when=step.when,
                continue_on_failure=step.continue_on_failure,
                status=state,
                final=step.name in final,
                items=_items(step),
            )
        )
    return layers


def _layers(steps: tuple[Step, ...] | list[Step], start: int = 0) -> dict[str, int]:
    dependencies = {step.name: step.dependencies for step in steps}
    layer: dict[str, int] = {}
    for name in topological_order(dependencies):
        below = (layer[d] for d in dependencies[name] if d in layer)
        layer[name] = max(below, default=start - 1) + 1
    return layer


def _items(step: Step) -> str | None:
    """What a fan-out step runs over, as a drawing says it."""
    if step.with_items is not None:
        text = f"for each of {_count(len(step.with_items), 'item')}"
    elif step.with_param is not None:
        text = f"for each item of {step.with_param.step}.{step.with_param.parameter}"
    else:
        return None
    return text + (f", {step.parallelism} at once" if step.parallelism else "")


def _finally_edges(layers: list[list[Node]]) -> list[tuple[str, str]]:
    """(last step, first finally step) pairs: every finally step runs after every step."""
    flat = [node for layer in layers for node in layer]
    upstream = {d for node in flat if not node.final for d in node.dependencies}
    last = [n.name for n in flat if not n.final and n.name not in upstream]
    first = [n.name for n in flat if n.final and not n.dependencies]
    return [(a, b) for a in last for b in first]


def to_mermaid(spec: JobFlowSpec, status: JobFlowStatus | None = None) -> str:
    """A Mermaid flowchart; with a status, steps are coloured by phase (classDef per mark).
    Fan-out steps are stacks (Mermaid's subroutine shape); finally steps are in a subgraph."""
    flat = [node for layer in nodes(spec, status) for node in layer]
    ids = {node.name: f"n{i}" for i, node in enumerate(flat)}
    lines = ["flowchart TD"]
    lines += [_mermaid_node(node, ids[node.name]) for node in flat if not node.final]
    final = [_mermaid_node(node, ids[node.name]) for node in flat if node.final]
    if final:
        lines += ["    subgraph finally", *(f"    {line}" for line in final), "    end"]
    tolerated = {n.name for n in flat if n.continue_on_failure}
    for node in flat:
        for dependency in node.dependencies:
            arrow = "-.->" if dependency in tolerated else "-->"
            lines.append(f"    {ids[dependency]} {arrow} {ids[node.name]}")
    for last, first in _finally_edges([flat]):
        lines.append(f"    {ids[last]} -. always .-> {ids[first]}")
    if status is not None:
        lines += _mermaid_classes(flat, ids)
    return "\n".join(lines) + "\n"


def _mermaid_node(node: Node, node_id: str) -> str:
    label = _mermaid_text(node.name)
    if node.mark is not None:
        label = f"{UNICODE_MARKERS[node.mark]} {label}"
    if node.items:
        label += f"<br/>{_mermaid_text(node.items)}"
    if node.when:
        label += f"<br/><i>when</i> {_mermaid_text(node.when)}"
    if node.items:
        return f'    {node_id}[["{label}"]]'
    return f'    {node_id}["{label}"]'


def _mermaid_classes(flat: list[Node], ids: Mapping[str, str]) -> list[str]:
    """A classDef per phase drawn, and the steps of each."""
    by_mark: dict[Mark, list[str]] = {}
    for node in flat:
        if node.mark is not None:
            by_mark.setdefault(node.mark, []).append(ids[node.name])
    drawn = [mark for mark in Mark if mark in by_mark]
    return [f"    classDef {mark.value} {_MERMAID_STYLE[mark]}" for mark in drawn] + [
        f"    class {','.join(by_mark[mark])} {mark.value}" for mark in drawn
    ]


def to_dot(spec: JobFlowSpec, status: JobFlowStatus | None = None, name: str = "jobflow") -> str:
    """A Graphviz digraph; with a status, steps are filled with the colour of their phase.
    Fan-out steps are 3D boxes; finally steps are in a dashed cluster."""
    layers = nodes(spec, status)
    lines = [
        f"digraph {_dot_quote(name)} {{",
        "    rankdir=TB;",
        '    node [shape=box, style="rounded", fontname="Helvetica"];',
        '    edge [fontname="Helvetica"];',
    ]
    for layer in layers:
        lines.append(f"    {{ rank=same; {' '.join(_dot_quote(n.name) for n in layer)}; }}")
    final = [_dot_quote(n.name) for layer in layers for n in layer if n.final]
    if final:
        members = "; ".join(final)
        cluster = f'label="finally"; style=dashed; {members};'
        lines.append(f"    subgraph cluster_finally {{ {cluster} }}")
    lines += [_dot_node(node) for layer in layers for node in layer]
    tolerated = {n.name for layer in layers for n in layer if n.continue_on_failure}
    for layer in layers:
        for node in layer:
            for dependency in node.dependencies:
                style = " [style=dashed]" if dependency in tolerated else ""
                lines.append(f"    {_dot_quote(dependency)} -> {_dot_quote(node.name)}{style};")
    for last, first in _finally_edges(layers):
        edge = '[style=dotted, label="always"]'
        lines.append(f"    {_dot_quote(last)} -> {_dot_quote(first)} {edge};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dot_node(node: Node) -> str:
    label = [node.name]
    if node.items:
        label.append(node.items)
    if node.status is not None:
        label.append(_state_text(node))
    if node.when:
        label.append(f"when {node.when}")
    # A backslash and an n make a line break inside a dot label.
    text = "\\n".join(_dot_escape(part) for part in label)
    attributes = [f'label="{text}"']
    if node.items:
        attributes.append("shape=box3d")
    if node.mark is not None:
        fill, border = _DOT_COLOUR[node.mark]
        style = "rounded,filled,dashed" if node.mark is Mark.SKIPPED else "rounded,filled"
        attributes += [f'style="{style}"', f'fillcolor="{fill}"', f'color="{border}"']
    return f"    {_dot_quote(node.name)} [{', '.join(attributes)}];"


def to_text(
    spec: JobFlowSpec,
    status: JobFlowStatus | None = None,
    name: str = "jobflow",
    markers: Mapping[Mark, str] = UNICODE_MARKERS,
) -> str:
    """Layer by layer, each step with what it waits for (and its phase, given a status)."""
    layers = nodes(spec, status)
    total = sum(len(layer) for layer in layers)
    if status is None:
        header = f"JobFlow {name}: {_count(total, 'step')} in {_count(len(layers), 'layer')}"
    else:
        done, of = status.progress.completed_steps, status.progress.total_steps or total
        header = f"JobFlow {name}: {status.phase.value}, {done}/{of} steps done"
    table = [[_columns(node, markers) for node in layer] for layer in layers]
    widths = [max(len(row[i]) for rows in table for row in rows) for i in range(len(table[0][0]))]
    lines = [header]
    first_final = next((i for i, layer in enumerate(layers) if layer[0].final), len(layers))
    for number, rows in enumerate(table, start=1):
        if number > first_final:
            lines.append(f"finally {number - first_final} (after every step, whatever happened)")
        else:
            lines.append(f"layer {number}")
        for row in rows:
            cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=True)]
            lines.append(("  " + "  ".join(cells)).rstrip())
    return "\n".join(lines) + "\n"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def _columns(node: Node, markers: Mapping[Mark, str]) -> list[str]:
    """Marker, name, phase, dependencies, notes; the first and third only with a status."""
    columns = [markers[node.mark]] if node.mark is not None else []
    columns.append(node.name)
    if node.status is not None:
        columns.append(_state_text(node))
    columns.append("after " + ", ".join(node.dependencies) if node.dependencies else "")
    notes = [node.items] if node.items else []
    notes += [f"when {node.when}"] if node.when else []
    if node.continue_on_failure:
        notes.append("(continues on failure)")
    columns.append("  ".join(notes))
    return columns


def _state_text(node: Node) -> str:
    assert node.status is not None
    text = node.status.phase.value
    if node.status.reason:
        text += f" ({node.status.reason})"
    return text


def _mermaid_text(text: str) -> str:
    """Quotes, ampersands and angle brackets in a Mermaid label are written as entity codes."""
    for character, code in (("&", "#amp;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;")):
        text = text.replace(character, code)
    return text


def _dot_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _dot_quote(text: str) -> str:
    return f'"{_dot_escape(text)}"'
