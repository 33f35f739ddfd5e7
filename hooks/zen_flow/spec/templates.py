"""Named templates: ``{{params.<name>}}`` placeholders, found and substituted.

A placeholder may stand anywhere in any string of a template (a command, an argument, an
image, an environment value, a label or annotation value), never in a key; spaces inside
the braces are allowed. Substituting is plain text replacement, done once per Job.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import msgspec

from zen_flow.api.spec import (
    MAX_PARAMETER_VALUE,
    JobFlowSpec,
    JobTemplate,
    NamedTemplate,
    Step,
)
from zen_flow.spec.problems import Problem

PLACEHOLDER = re.compile(r"\{\{\s*params\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def placeholders(value: Any) -> set[str]:
    """The parameter names a JSON value's strings use."""
    return {match for text in _strings(value) for match in PLACEHOLDER.findall(text)}


def substitute(value: Any, arguments: Mapping[str, str]) -> Any:
    """``value`` with every placeholder replaced by its argument; a placeholder naming no
    argument is left as it is (validation refuses it)."""
    if isinstance(value, str):
        return PLACEHOLDER.sub(lambda match: arguments.get(match.group(1), match.group(0)), value)
    if isinstance(value, dict):
        return {key: substitute(item, arguments) for key, item in value.items()}
    if isinstance(value, list):
        return [substitute(item, arguments) for item in value]
    return value


def arguments_of(spec: JobFlowSpec, step: Step) -> dict[str, str]:
    """The values of a step's template parameters: its arguments over the defaults."""
    if step.template_ref is None:
        return {}
    template = spec.templates_by_name[step.template_ref]
    given = step.arguments or {}
    return {p.name: given.get(p.name, p.default or "") for p in template.parameters}


def template_placeholders(template: NamedTemplate) -> set[str]:
    return placeholders(_template_json(template.template))


# The most a step's Job template may take once substituted: a Job is stored whole, and the
# hook renders the Jobs of thousands of steps at once.
MAX_SUBSTITUTED_BYTES = 256 * 1024


@dataclass(frozen=True)
class TemplateSize:
    """What a named template takes, each placeholder in it (name, characters), and whether
    one stands where substituting can make the template invalid (a name, an image, a label
    or annotation value): only then is each step's substituted template validated."""

    base: int
    uses: tuple[tuple[str, int], ...]
    checked: bool

    @classmethod
    def of(cls, template: NamedTemplate) -> TemplateSize:
        value = _template_json(template.template)
        uses: list[tuple[str, int]] = []
        checked = False
        for path, text in _paths(value):
            found = [(m.group(1), len(m.group(0))) for m in PLACEHOLDER.finditer(text)]
            uses += found
            checked = checked or bool(found and _CHECKED & set(path))
        return cls(len(msgspec.json.encode(value)), tuple(uses), checked)

    def substituted(self, arguments: Mapping[str, str]) -> int:
        """The bytes the template takes with ``arguments`` substituted, without doing it."""
        grown = {name: len(msgspec.json.encode(value)) - 2 for name, value in arguments.items()}
        return self.base + sum(grown.get(name, 0) - length for name, length in self.uses)


# Keys under which a substituted value is checked: names, images, metadata, restart policies.
_CHECKED = frozenset({"name", "image", "metadata", "restartPolicy"})


def _paths(value: Any) -> Iterator[tuple[tuple[str, ...], str]]:
    """Every string of a JSON value, with the keys on its way."""
    pending: list[tuple[tuple[str, ...], Any]] = [((), value)]
    while pending:
        path, item = pending.pop()
        if isinstance(item, str):
            yield path, item
        elif isinstance(item, dict):
            pending.extend(((*path, str(key)), child) for key, child in item.items())
        elif isinstance(item, list):
            pending.extend((path, child) for child in item)


def resolved_template(spec: JobFlowSpec, step: Step) -> JobTemplate:
    """The Job template a step runs: its own, or its named template with the step's
    arguments substituted. ``pydantic.ValidationError`` if the substituted values make it
    invalid (validation reports that for the step)."""
    if step.template_ref is None:
        return spec.template_of(step)
    template = spec.template_of(step)
    arguments = arguments_of(spec, step)
    if not arguments:
        return template
    return JobTemplate.model_validate(substitute(_template_json(template), arguments))


def _template_json(template: JobTemplate) -> Any:
    return template.model_dump(by_alias=True, exclude_unset=True, mode="json")


def _strings(value: Any) -> Iterator[str]:
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)


def template_problems(spec: JobFlowSpec) -> Iterator[Problem]:
    """Named templates: unique names and parameters, and placeholders that name one."""
    seen: set[str] = set()
    for index, template in enumerate(spec.templates):
        where = f"spec.templates[{index}]"
        if template.name in seen:
            yield Problem(f"{where}.name", f'duplicate template name "{template.name}"')
        seen.add(template.name)
        declared: set[str] = set()
        for position, parameter in enumerate(template.parameters):
            if parameter.name in declared:
                path = f"{where}.parameters[{position}].name"
                yield Problem(path, f'duplicate parameter "{parameter.name}"')
            declared.add(parameter.name)
        for name in sorted(template_placeholders(template) - declared):
            yield Problem(
                f"{where}.template",
                f"{{{{params.{name}}}}} names no parameter of this template "
                "(declare it under parameters)",
            )


def reference_problems(spec: JobFlowSpec, step: Step, where: str) -> Iterator[Problem]:
    """A step's templateRef names a template, and its arguments its parameters."""
    if step.template_ref is None:
        if step.arguments is not None:
            yield Problem(f"{where}.arguments", "arguments go with templateRef")
        return
    if step.template is not None:
        yield Problem(f"{where}.templateRef", "give template or templateRef, not both")
    template = spec.templates_by_name.get(step.template_ref)
    if template is None:
        known = ", ".join(sorted(spec.templates_by_name)) or "none"
        yield Problem(
            f"{where}.templateRef", f'unknown template "{step.template_ref}" (templates: {known})'
        )
        return
    declared = {p.name: p for p in template.parameters}
    given = step.arguments or {}
    for name, value in sorted(given.items()):
        if name not in declared:
            known = ", ".join(sorted(declared)) or "none"
            yield Problem(
                f"{where}.arguments.{name}",
                f'not a parameter of template "{template.name}" (its parameters: {known})',
            )
        elif len(value) > MAX_PARAMETER_VALUE:
            yield Problem(f"{where}.arguments.{name}", f"longer than {MAX_PARAMETER_VALUE}")
    for name, parameter in sorted(declared.items()):
        if parameter.default is None and name not in given:
            yield Problem(
                f"{where}.arguments", f'template "{template.name}" needs a value for "{name}"'
            )
