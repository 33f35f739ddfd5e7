"""Rules of step types, inputs and outputs that need the whole flow: what an approval step may
carry, and that every input has one source and every step output it reads is declared
upstream."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from zen_flow.api.spec import MAX_APPROVAL_STEP_NAME, Parameter, Step, StepOutputRef, StepType
from zen_flow.spec.problems import Problem
from zen_flow.spec.shape import FlowShape

# What an approval step has no use for: it runs nothing.
_NOT_FOR_APPROVALS = (
    "template",
    "template_ref",
    "arguments",
    "with_items",
    "with_param",
    "parallelism",
    "retry_policy",
    "timeout_seconds",
    "inputs",
    "outputs",
)


def step_type_problems(step: Step, where: str, final: bool = False) -> Iterator[Problem]:
    """A Job step runs its template (inline or named); an approval step has none, and a name
    that fits the annotation that decides it; a finally step runs a Job."""
    if step.type is StepType.JOB:
        if step.template is None and step.template_ref is None:
            yield Problem(
                f"{where}.template",
                "required field is missing (a Job step runs it; or give templateRef)",
            )
        return
    if final:
        yield Problem(f"{where}.type", "a finally step runs a Job: Approval is for spec.steps")
    for field in _NOT_FOR_APPROVALS:
        if getattr(step, field) is not None:
            name = Step.model_fields[field].alias or field
            yield Problem(f"{where}.{name}", "an Approval step runs nothing: remove it")
    if len(step.name) > MAX_APPROVAL_STEP_NAME:
        yield Problem(
            f"{where}.name",
            f"an Approval step's name has at most {MAX_APPROVAL_STEP_NAME} characters "
            "(its annotation workflow.zen.io/approve-<step> must be a valid key)",
        )


def parameter_problems(step: Step, where: str, shape: FlowShape) -> Iterator[Problem]:
    """Inputs and outputs of a step: every input has one source, and every step output it
    reads is declared upstream."""
    if step.outputs is not None:
        yield from _duplicates(
            [p.name for p in step.outputs.parameters], f"{where}.outputs.parameters"
        )
    if step.inputs is None:
        return
    yield from _duplicates([p.name for p in step.inputs.parameters], f"{where}.inputs.parameters")
    upstream: set[str] | None = None  # found only when an input reads a step's output
    for position, parameter in enumerate(step.inputs.parameters):
        path = f"{where}.inputs.parameters[{position}]"
        if upstream is None and parameter.value_from and parameter.value_from.step_output:
            upstream = shape.upstream(step.name)
        yield from _source_problems(parameter, path, upstream or set(), shape.outputs)


def _source_problems(
    parameter: Parameter, path: str, upstream: set[str], outputs: Mapping[str, Sequence[str]]
) -> Iterator[Problem]:
    source = parameter.value_from
    sources = (
        []
        if source is None
        else [
            name
            for name in ("config_map_key_ref", "secret_key_ref", "step_output")
            if getattr(source, name) is not None
        ]
    )
    if (parameter.value is None) == (source is None):
        yield Problem(path, "give exactly one of value and valueFrom")
        return
    if source is None:
        return
    if len(sources) != 1:
        yield Problem(
            f"{path}.valueFrom",
            "give exactly one of configMapKeyRef, secretKeyRef and stepOutput",
        )
        return
    if source.step_output is not None:
        yield from step_output_problems(
            source.step_output, f"{path}.valueFrom.stepOutput", upstream, outputs
        )


def step_output_problems(
    reference: StepOutputRef,
    where: str,
    upstream: set[str],
    outputs: Mapping[str, Sequence[str]],
) -> Iterator[Problem]:
    """A reference to another step's output (an input's, or withParam's) names a step
    upstream that declares that output."""
    if reference.step not in outputs:
        yield Problem(f"{where}.step", f'unknown step "{reference.step}"')
    elif reference.step not in upstream:
        yield Problem(
            f"{where}.step", f'step "{reference.step}" is not upstream: add it to dependencies'
        )
    elif reference.parameter not in outputs[reference.step]:
        yield Problem(
            f"{where}.parameter",
            f'step "{reference.step}" declares no output "{reference.parameter}"',
        )


def _duplicates(names: Sequence[str], path: str) -> Iterator[Problem]:
    seen: set[str] = set()
    for position, name in enumerate(names):
        if name in seen:
            yield Problem(f"{path}[{position}].name", f'duplicate name "{name}"')
        seen.add(name)
