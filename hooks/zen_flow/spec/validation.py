"""Validation of a JobFlow spec, with messages that name the field and the problem.

Shape and ranges come from the pydantic models; the rules that need the whole flow (names,
dependencies, cycles, ``when`` references, restart policies) are checked here. Every problem
is reported, not just the first, as ``spec.steps[2].dependencies[0]: unknown step "lod"``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import msgspec
import pydantic
from cachetools import LRUCache

from zen_flow.api.labels import reserved_annotation, reserved_label
from zen_flow.api.spec import (
    ConfigMapTemplate,
    JobFlowSpec,
    JobTemplate,
    Step,
    VolumeClaimTemplate,
)
from zen_flow.spec.dag import find_cycle, topological_order
from zen_flow.spec.fanout import fan_out_problems
from zen_flow.spec.messages import describe, did_you_mean, path_text
from zen_flow.spec.parameters import parameter_problems, step_type_problems
from zen_flow.spec.pods import pod_problems, pod_problems_of
from zen_flow.spec.problems import InvalidSpecError as InvalidSpecError
from zen_flow.spec.problems import Problem as Problem
from zen_flow.spec.shape import FlowShape, step_paths
from zen_flow.spec.templates import (
    MAX_SUBSTITUTED_BYTES,
    TemplateSize,
    arguments_of,
    placeholders,
    reference_problems,
    resolved_template,
    template_placeholders,
    template_problems,
)
from zen_flow.spec.when import WhenError, compile_when

MAX_PROBLEMS = 20
# Validated specs are cached by their bytes, within this many (estimated) bytes per process.
SPEC_CACHE_BYTES = 96 * 1024 * 1024
# A spec's models hold 10.6 to 10.9 times its JSON in realistic flows and 3.8 KB a step in
# minimal ones (tracemalloc, 100 to 5000 steps): the estimate stays above both.
SPEC_BYTES_PER_JSON_BYTE = 11
SPEC_BYTES_PER_STEP = 2000
# And what is kept with it once a sync asks: its step order, index, positions and dependents
# (129 to 165 bytes a step measured with tracemalloc at 300 to 5000 steps).
SPEC_DERIVED_BYTES_PER_STEP = 256
# The specs used last, compared by bytes before the cache is searched by hash.
RECENT_SPECS = 4
# pydantic's JSON parser stops at this depth.
MAX_SPEC_DEPTH = 200


def parse_spec(data: bytes | dict[str, Any] | None) -> JobFlowSpec:
    """A valid spec from JSON bytes or a decoded object; ``InvalidSpecError`` otherwise."""
    if isinstance(data, bytes):
        return _parse_spec_json(data)
    return _validated(lambda: JobFlowSpec.model_validate(data, by_alias=True), data)


def _parse_spec_json(data: bytes) -> JobFlowSpec:
    """Cached by content: Metacontroller sends the same spec on every sync of a flow, and
    building the models of a large flow costs far more than comparing its bytes. The
    models are frozen, so a cached spec is shared safely. Invalid specs are cached too, so
    a flow whose spec stays invalid costs one validation per worker. The specs used last
    are compared first: comparing bytes is cheaper than hashing them (a 5000-step spec is
    megabytes)."""
    with _lock:
        known = next((entry for entry in _recent if entry.data == data), None)
        if known is None:
            known = _specs.get(data)
    if known is None:
        try:
            known = _CachedSpec(
                _validated(lambda: JobFlowSpec.model_validate_json(data, by_alias=True), data),
                data,
            )
        except InvalidSpecError as error:
            known = _CachedSpec(error, data)
        with _lock:
            _specs[data] = known
    with _lock:
        if known not in _recent and known.data in _specs:
            _recent.insert(0, known)
            del _recent[RECENT_SPECS:]
    if isinstance(known.spec, InvalidSpecError):
        raise known.spec
    return known.spec


def step_order(spec: JobFlowSpec) -> tuple[str, ...]:
    """The steps of spec.steps in dependency order (``dag.topological_order``, ties in
    declaration order): computed once for a spec of the cache, and kept with it."""
    return _derived(spec).order


def finally_order(spec: JobFlowSpec) -> tuple[str, ...]:
    """The finally steps in dependency order, as ``step_order``."""
    return _derived(spec).finally_order


def step_positions(spec: JobFlowSpec) -> Mapping[str, int]:
    """Each step of spec.steps by its place in ``step_order``."""
    return _derived(spec).positions


def dependents(spec: JobFlowSpec) -> Mapping[str, tuple[str, ...]]:
    """Each step of spec.steps and the steps of spec.steps that depend on it."""
    return _derived(spec).dependents


def steps_by_name(spec: JobFlowSpec) -> Mapping[str, Step]:
    """The spec's steps and finally steps by name (the last of a name): computed once for a
    spec of the cache, and kept with it."""
    return _derived(spec).steps


@dataclass(frozen=True)
class _Derived:
    """What every sync of a flow reads from its spec, computed once per spec."""

    order: tuple[str, ...]
    finally_order: tuple[str, ...]
    steps: Mapping[str, Step]
    positions: Mapping[str, int]
    dependents: Mapping[str, tuple[str, ...]]


def _derived(spec: JobFlowSpec) -> _Derived:
    with _lock:
        entry = _specs.by_spec.get(id(spec))
    if entry is not None and entry.spec is spec and entry.derived is not None:
        return entry.derived
    order = _order(spec.steps)
    derived = _Derived(
        order=order,
        finally_order=_order(spec.finally_),
        steps=MappingProxyType({step.name: step for step in spec.all_steps}),
        positions=MappingProxyType({name: index for index, name in enumerate(order)}),
        dependents=MappingProxyType(_dependents(spec.steps)),
    )
    if entry is not None and entry.spec is spec:
        entry.derived = derived
    return derived


def _order(steps: Sequence[Step]) -> tuple[str, ...]:
    return tuple(topological_order({step.name: step.dependencies for step in steps}))


def _dependents(steps: Sequence[Step]) -> dict[str, tuple[str, ...]]:
    found: dict[str, list[str]] = {step.name: [] for step in steps}
    for step in steps:
        for dependency in dict.fromkeys(step.dependencies):
            found[dependency].append(step.name)
    return {name: tuple(names) for name, names in found.items()}


@dataclass(eq=False)
class _CachedSpec:
    spec: JobFlowSpec | InvalidSpecError
    data: bytes  # the spec's bytes: the cache's key
    derived: _Derived | None = None  # once asked for

    @property
    def size(self) -> int:
        steps = len(self.spec.all_steps) if isinstance(self.spec, JobFlowSpec) else 0
        per_step = SPEC_BYTES_PER_STEP + SPEC_DERIVED_BYTES_PER_STEP
        return SPEC_BYTES_PER_JSON_BYTE * len(self.data) + per_step * steps


def _spec_size(entry: _CachedSpec) -> int:
    return entry.size


class _Specs(LRUCache[bytes, _CachedSpec]):
    """Specs by their bytes, and by the identity of the spec (for ``step_order``; the entry
    holds the spec, so the identity is not reused while it is kept)."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(max_bytes, getsizeof=_spec_size)
        self.by_spec: dict[int, _CachedSpec] = {}

    def __setitem__(self, data: bytes, entry: _CachedSpec) -> None:
        super().__setitem__(data, entry)
        self.by_spec[id(entry.spec)] = entry

    def __delitem__(self, data: bytes) -> None:
        entry = super().__getitem__(data)
        super().__delitem__(data)
        if self.by_spec.get(id(entry.spec)) is entry:
            del self.by_spec[id(entry.spec)]
        if entry in _recent:
            _recent.remove(entry)

    def clear(self) -> None:
        """cachetools empties the cache without ``__delitem__``: the index goes with it."""
        super().clear()
        self.by_spec.clear()
        _recent.clear()


_lock = threading.Lock()
_specs = _Specs(SPEC_CACHE_BYTES)
# The entries used last, newest first, while they are in the cache.
_recent: list[_CachedSpec] = []


def clear_cache() -> None:
    """Forget every validated spec (for measurements)."""
    with _lock:
        _specs.clear()


def cache_bytes() -> int:
    """The estimated bytes the cache of validated specs holds now."""
    with _lock:
        return int(_specs.currsize)


def _validated(build: Callable[[], JobFlowSpec], source: bytes | Any) -> JobFlowSpec:
    try:
        spec = build()
    except pydantic.ValidationError as error:
        raise InvalidSpecError(_pydantic_problems(error, source)) from error
    problems = validate_spec(spec)
    if problems:
        raise InvalidSpecError(problems)
    return spec


def validate_spec(spec: JobFlowSpec) -> list[Problem]:
    """The cross-field problems of a spec that parsed; empty when it is valid."""
    return list(_cross_field_problems(spec))


def _cross_field_problems(spec: JobFlowSpec) -> Iterator[Problem]:
    shape = FlowShape.of(spec)
    yield from _name_problems(spec)
    broken = list(template_problems(spec))
    yield from broken
    # Steps of a template with problems of its own are not checked substituted.
    parameterized = {
        t.name: TemplateSize.of(t)
        for index, t in enumerate(spec.templates)
        if template_placeholders(t)
        and not any(p.path.startswith(f"spec.templates[{index}]") for p in broken)
    }
    for where, step in step_paths(spec):
        final = step.name in shape.final
        yield from step_type_problems(step, where, final)
        references = list(reference_problems(spec, step, where))
        yield from references
        if not references and step.template_ref in parameterized:
            size = parameterized[step.template_ref].substituted(arguments_of(spec, step))
            if size > MAX_SUBSTITUTED_BYTES:
                yield Problem(
                    f"{where}.arguments",
                    f'with these arguments, template "{step.template_ref}" would take '
                    f"{size // 1024} KiB; at most {MAX_SUBSTITUTED_BYTES // 1024} KiB",
                )
            elif parameterized[step.template_ref].checked:
                yield from _substitution_problems(spec, step, where)
        yield from parameter_problems(step, where, shape)
        yield from fan_out_problems(spec, step, where, shape)
        yield from _dependency_problems(step, where, shape)
        yield from _restart_policy_problems(spec, step, where)
        if step.when is not None:
            yield from _when_problems(step.when, f"{where}.when", step.name, shape)
    cycle = find_cycle({k: [d for d in v if d != k] for k, v in shape.dependencies.items()})
    if cycle:
        yield Problem("spec.steps", "dependency cycle: " + " -> ".join(cycle))
    yield from _resource_problems(spec)
    yield from _metadata_problems(spec)
    yield from (Problem(path, message) for path, message in pod_problems(spec))


def _substitution_problems(spec: JobFlowSpec, step: Step, where: str) -> Iterator[Problem]:
    """The step's named template with its arguments substituted is a valid Job template,
    whose labels and annotations a Job can carry."""
    try:
        template = resolved_template(spec, step)
    except pydantic.ValidationError as error:
        for detail in error.errors(include_url=False)[:MAX_PROBLEMS]:
            field = format_path(("template", *detail["loc"]))
            yield Problem(
                f"{where}.arguments",
                f'with these arguments, {field} of template "{step.template_ref}" is '
                f"invalid: {describe(detail, JobTemplate)}",
            )
        return
    for path, labels, notes in _job_metadata(template, f"{where}.templateRef"):
        yield from _labels_problems(path, labels, notes)
    pod = f"{where}.templateRef.spec.template.spec"
    yield from (Problem(path, message) for path, message in pod_problems_of(pod, template))


def _name_problems(spec: JobFlowSpec) -> Iterator[Problem]:
    """Step names are unique among the steps and the finally steps together."""
    names: dict[str, str] = {}
    for where, step in step_paths(spec):
        if step.name in names:
            yield Problem(
                f"{where}.name", f'duplicate step name "{step.name}" (also {names[step.name]})'
            )
        else:
            names[step.name] = where


def _dependency_problems(step: Step, where: str, shape: FlowShape) -> Iterator[Problem]:
    """Dependencies name other steps, once each; a finally step depends only on finally
    steps (it runs after all of spec.steps anyway), and no step of spec.steps on one."""
    final = step.name in shape.final
    seen: set[str] = set()
    for position, dependency in enumerate(step.dependencies):
        path = f"{where}.dependencies[{position}]"
        if dependency == step.name:
            yield Problem(path, f'step "{step.name}" depends on itself')
        elif dependency not in shape.dependencies:
            known = shape.dependencies
            yield Problem(path, f'unknown step "{dependency}"{did_you_mean(dependency, known)}')
        elif dependency in seen:
            yield Problem(path, f'duplicate dependency "{dependency}"')
        elif final and dependency in shape.main:
            yield Problem(
                path,
                f'"{dependency}" is a step of spec.steps: a finally step runs after all of '
                "them anyway; depend only on finally steps",
            )
        elif not final and dependency in shape.final:
            yield Problem(
                path, f'"{dependency}" is a finally step: it runs after every step of spec.steps'
            )
        seen.add(dependency)


def _metadata_problems(spec: JobFlowSpec) -> Iterator[Problem]:
    """Labels and annotations the API server would refuse on a child (so the child could
    never be created), or that Metacontroller, the Job controller or zen-flow own."""
    for path, labels, notes in _user_metadata(spec):
        yield from _labels_problems(path, labels, notes)


def _labels_problems(
    path: str, labels: Mapping[str, str], notes: Mapping[str, str]
) -> Iterator[Problem]:
    for key, value in labels.items():
        where = f'{path}.labels["{key}"]'
        owner = reserved_label(key)
        if owner is not None:
            yield Problem(where, f"reserved label, set by {owner}")
        elif not _qualified_name(key):
            yield Problem(where, f"{_KEY_RULE} (label key)")
        elif len(value) > 63 or not _LABEL_VALUE.fullmatch(value):
            yield Problem(where, f"label value {value[:70]!r}: {_VALUE_RULE}")
    for key in notes:
        where = f'{path}.annotations["{key}"]'
        owner = reserved_annotation(key)
        if owner is not None:
            yield Problem(where, f"reserved annotation, set by {owner}")
        elif not _qualified_name(key):
            yield Problem(where, f"{_KEY_RULE} (annotation key)")


_NAME_PART = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_PREFIX = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
_KEY_RULE = (
    "not a valid key: an optional DNS prefix and '/', then at most 63 letters, digits, "
    "'-', '_' or '.', starting and ending with a letter or digit"
)
_VALUE_RULE = (
    "at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
)


def _qualified_name(key: str) -> bool:
    """A Kubernetes label or annotation key: ``[prefix/]name``."""
    prefix, slash, name = key.rpartition("/")
    if slash and not (0 < len(prefix) <= 253 and _PREFIX.fullmatch(prefix)):
        return False
    return 0 < len(name) <= 63 and bool(_NAME_PART.fullmatch(name))


def _user_metadata(
    spec: JobFlowSpec,
) -> Iterator[tuple[str, Mapping[str, str], Mapping[str, str]]]:
    """Every place a spec gives children labels and annotations: (path, labels, annotations)."""
    for where, step in step_paths(spec):
        if step.metadata is not None:
            yield f"{where}.metadata", step.metadata.labels, step.metadata.annotations
        if step.template is not None:
            yield from _job_metadata(step.template, f"{where}.template")
    for index, named in enumerate(spec.templates):
        for path, labels, notes in _job_metadata(
            named.template, f"spec.templates[{index}].template"
        ):
            # A value with a placeholder is checked for each step, once substituted.
            yield path, {k: v for k, v in labels.items() if not placeholders(v)}, notes
    templates = spec.resource_templates
    if templates is None:
        return
    kinds: list[tuple[str, Sequence[VolumeClaimTemplate | ConfigMapTemplate]]] = [
        ("volumeClaimTemplates", templates.volume_claim_templates),
        ("configMapTemplates", templates.config_map_templates),
    ]
    for field, items in kinds:
        for index, item in enumerate(items):
            path = f"spec.resourceTemplates.{field}[{index}].metadata"
            yield path, item.metadata.labels, item.metadata.annotations


def _job_metadata(
    template: JobTemplate, where: str
) -> Iterator[tuple[str, Mapping[str, str], Mapping[str, str]]]:
    if template.metadata is not None:
        meta = template.metadata
        yield f"{where}.metadata", meta.labels, meta.annotations
    pod = template.spec.template.metadata
    if pod is not None:
        yield f"{where}.spec.template.metadata", pod.labels, pod.annotations


def _restart_policy_problems(spec: JobFlowSpec, step: Step, where: str) -> Iterator[Problem]:
    if step.template is None and step.template_ref not in spec.templates_by_name:
        return
    template = spec.template_of(step)
    field = "template" if step.template is not None else f"templateRef ({step.template_ref})"
    job = template.spec
    has_policy = job.pod_failure_policy is not None or (
        spec.execution_policy.pod_failure_policy is not None
    )
    if has_policy and job.template.spec.restart_policy != "Never":
        yield Problem(
            f"{where}.{field}.spec.template.spec.restartPolicy",
            "must be Never when a podFailurePolicy applies",
        )


def _when_problems(source: str, path: str, step: str, shape: FlowShape) -> Iterator[Problem]:
    try:
        condition = compile_when(source)
    except WhenError as error:
        yield Problem(path, str(error))
        return
    if condition.reads_flow and step not in shape.final:
        yield Problem(
            path,
            "reads flow (the outcome of spec.steps), which only finally steps know: "
            "move the step under finally, or read steps.<name>.phase",
        )
    if not condition.steps:
        return
    dependencies = shape.dependencies
    upstream = shape.upstream(step)
    for name in sorted(condition.steps - upstream):
        what = "unknown step" if name not in dependencies else "step that is not upstream of"
        detail = f'"{name}"' if name not in dependencies else f'"{name}" ({what} "{step}")'
        if name not in dependencies:
            yield Problem(
                path, f"refers to unknown step {detail}{did_you_mean(name, dependencies)}"
            )
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


def _pydantic_problems(error: pydantic.ValidationError, source: bytes | Any) -> list[Problem]:
    problems = []
    for detail in error.errors(include_url=False):
        if _too_deep(detail):
            where = _deep_path(source)
            problems.append(Problem(where, f"nested more than {MAX_SPEC_DEPTH} levels deep"))
            continue
        problems.append(Problem(path_text(JobFlowSpec, detail["loc"]), describe(detail)))
    return problems[:MAX_PROBLEMS]


def _too_deep(detail: Any) -> bool:
    return detail.get("type") in ("json_invalid", "recursion_loop") and (
        "recursion" in str(detail.get("msg", "")).lower()
    )


def _deep_path(source: bytes | Any, shown: int = 12) -> str:
    """Where the spec is nested too deeply: the path to its first over-deep value, cut
    after ``shown`` parts. Walked without recursion: the value may be 10000 levels deep."""
    try:
        value = msgspec.json.decode(source) if isinstance(source, bytes) else source
    except (msgspec.DecodeError, RecursionError):
        return "spec"
    pending: list[tuple[Any, tuple[int | str, ...]]] = [(value, ("spec",))]
    while pending:
        node, path = pending.pop()
        if len(path) > MAX_SPEC_DEPTH - 10:
            return format_path(path[:shown]) + ("..." if len(path) > shown else "")
        if isinstance(node, dict):
            pending.extend((child, (*path, str(key))) for key, child in node.items())
        elif isinstance(node, list):
            pending.extend((child, (*path, index)) for index, child in enumerate(node))
    return "spec"


def format_path(location: Sequence[int | str]) -> str:
    """``("spec", "steps", 2, "name")`` as ``spec.steps[2].name``."""
    text = ""
    for part in location:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "spec"
