"""Validation of a JobFlow spec, with messages that name the field and the problem.

Shape and ranges come from the pydantic models; the rules that need the whole flow (names,
dependencies, cycles, ``when`` references, restart policies) are checked here. Every problem
is reported, not just the first, as ``spec.steps[2].dependencies[0]: unknown step "lod"``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import pydantic

from zen_flow.api.spec import JobFlowSpec
from zen_flow.spec.dag import ancestors, find_cycle
from zen_flow.spec.when import WhenError, compile_when

MAX_PROBLEMS = 20
SPEC_CACHE_SIZE = 4  # a validated 5000-step spec holds about 48 MiB


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with a spec, and where."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class InvalidSpecError(ValueError):
    """Raised with all the problems of a spec."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = list(problems)


def parse_spec(data: bytes | dict[str, Any] | None) -> JobFlowSpec:
    """A valid spec from JSON bytes or a decoded object; ``InvalidSpecError`` otherwise."""
    if isinstance(data, bytes):
        return _parse_spec_json(data)
    return _validated(lambda: JobFlowSpec.model_validate(data, by_alias=True))


@lru_cache(maxsize=SPEC_CACHE_SIZE)
def _parse_spec_json(data: bytes) -> JobFlowSpec:
    """Cached by content: Metacontroller sends the same spec on every sync of a flow, and
    building the models of a large flow costs far more than comparing its bytes. The
    models are frozen, so a cached spec is shared safely; invalid specs are not cached."""
    return _validated(lambda: JobFlowSpec.model_validate_json(data, by_alias=True))


def _validated(build: Callable[[], JobFlowSpec]) -> JobFlowSpec:
    try:
        spec = build()
    except pydantic.ValidationError as error:
        raise InvalidSpecError(_pydantic_problems(error)) from error
    problems = validate_spec(spec)
    if problems:
        raise InvalidSpecError(problems)
    return spec


def validate_spec(spec: JobFlowSpec) -> list[Problem]:
    """The cross-field problems of a spec that parsed; empty when it is valid."""
    return list(_cross_field_problems(spec))


def _cross_field_problems(spec: JobFlowSpec) -> Iterator[Problem]:
    names: dict[str, int] = {}
    for index, step in enumerate(spec.steps):
        if step.name in names:
            yield Problem(
                f"spec.steps[{index}].name",
                f'duplicate step name "{step.name}" (also spec.steps[{names[step.name]}])',
            )
        else:
            names[step.name] = index
    dependencies = {step.name: step.dependencies for step in spec.steps}
    for index, step in enumerate(spec.steps):
        where = f"spec.steps[{index}]"
        seen: set[str] = set()
        for position, dependency in enumerate(step.dependencies):
            path = f"{where}.dependencies[{position}]"
            if dependency == step.name:
                yield Problem(path, f'step "{step.name}" depends on itself')
            elif dependency not in names:
                yield Problem(path, f'unknown step "{dependency}"')
            elif dependency in seen:
                yield Problem(path, f'duplicate dependency "{dependency}"')
            seen.add(dependency)
        yield from _restart_policy_problems(spec, index)
        if step.when is not None:
            yield from _when_problems(step.when, f"{where}.when", step.name, dependencies)
    cycle = find_cycle({k: [d for d in v if d != k] for k, v in dependencies.items()})
    if cycle:
        yield Problem("spec.steps", "dependency cycle: " + " -> ".join(cycle))
    yield from _resource_problems(spec)


def _restart_policy_problems(spec: JobFlowSpec, index: int) -> Iterator[Problem]:
    job = spec.steps[index].template.spec
    has_policy = job.pod_failure_policy is not None or (
        spec.execution_policy.pod_failure_policy is not None
    )
    if has_policy and job.template.spec.restart_policy != "Never":
        yield Problem(
            f"spec.steps[{index}].template.spec.template.spec.restartPolicy",
            "must be Never when a podFailurePolicy applies",
        )


def _when_problems(
    source: str, path: str, step: str, dependencies: dict[str, list[str]]
) -> Iterator[Problem]:
    try:
        condition = compile_when(source)
    except WhenError as error:
        yield Problem(path, str(error))
        return
    if not condition.steps:
        return
    upstream = ancestors(dependencies, step)
    for name in sorted(condition.steps - upstream):
        what = "unknown step" if name not in dependencies else "step that is not upstream of"
        detail = f'"{name}"' if name not in dependencies else f'"{name}" ({what} "{step}")'
        if name not in dependencies:
            yield Problem(path, f"refers to unknown step {detail}")
        else:
            yield Problem(path, f"refers to {detail}: add it to dependencies")


def _resource_problems(spec: JobFlowSpec) -> Iterator[Problem]:
    templates = spec.resource_templates
    if templates is None:
        return
    names = [
        ("volumeClaimTemplates", [t.metadata.name for t in templates.volume_claim_templates]),
        ("configMapTemplates", [t.metadata.name for t in templates.config_map_templates]),
    ]
    for field, items in names:
        seen: set[str] = set()
        for index, name in enumerate(items):
            if name in seen:
                yield Problem(
                    f"spec.resourceTemplates.{field}[{index}].metadata.name",
                    f'duplicate name "{name}"',
                )
            seen.add(name)


def _pydantic_problems(error: pydantic.ValidationError) -> list[Problem]:
    problems = []
    for detail in error.errors(include_url=False):
        problems.append(Problem(format_path(("spec", *detail["loc"])), _message(detail)))
    return problems[:MAX_PROBLEMS]


def format_path(location: Sequence[int | str]) -> str:
    """``("spec", "steps", 2, "name")`` as ``spec.steps[2].name``."""
    text = ""
    for part in location:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "spec"


def _message(detail: Any) -> str:
    kind = detail.get("type", "")
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        return "unknown field"
    message = str(detail.get("msg", "invalid value"))
    if "input" in detail and kind not in ("model_type", "dict_type", "list_type"):
        shown = repr(detail["input"])
        if len(shown) <= 60:
            message += f" (got {shown})"
    return message
