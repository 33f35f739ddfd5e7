"""The JobFlow fields a command reads (jsonpath, custom-columns, --sort-by, ``wait
--for=jsonpath``, ``explain``), and whether the models in ``zen_flow.api`` have them."""

from __future__ import annotations

import re
import types
from collections.abc import Iterator
from typing import Annotated, Any, Final, Union, get_args, get_origin

from pydantic import BaseModel

from zen_flow.api.fields import field_name
from zen_flow.api.spec import JobFlowSpec
from zen_flow.api.status import JobFlowStatus
from zen_flow.tools.doccheck.commands import Command

# A JobFlow's top-level fields; metadata is any ObjectMeta.
JOBFLOW_ROOT: Final[dict[str, Any]] = {
    "apiVersion": str,
    "kind": str,
    "metadata": dict[str, Any],
    "spec": JobFlowSpec,
    "status": JobFlowStatus,
}


def _unwrap(tp: Any) -> Any:
    """``X | None``, ``list[X]`` and ``Annotated[X, ...]`` → X: a path goes through them."""
    while True:
        origin = get_origin(tp)
        if origin in (Union, types.UnionType):
            tp = next(a for a in get_args(tp) if a is not type(None))
        elif origin in (list, Annotated):
            tp = get_args(tp)[0]
        else:
            return tp


def field_path_error(parts: list[str]) -> str | None:
    """Why ``.a.b.c`` (as ``["a", "b", "c"]``) is not a JobFlow field, or None when it is."""
    current: Any = JOBFLOW_ROOT
    for position, part in enumerate(parts):
        current = _unwrap(current)
        path = "." + ".".join(parts[: position + 1])
        if current is JOBFLOW_ROOT:
            if part not in JOBFLOW_ROOT:
                return f".{part} is not a JobFlow field"
            current = JOBFLOW_ROOT[part]
        elif isinstance(current, type) and issubclass(current, BaseModel):
            fields = {field_name(n, i): i.annotation for n, i in current.model_fields.items()}
            if part in fields:
                current = fields[part]
            elif current.model_config.get("extra") == "allow":
                return None  # a Kubernetes type we model only in part
            else:
                return f"{path}: {current.__name__} has no field {part!r}"
        elif get_origin(current) is dict:
            value = get_args(current)[1]
            if value is Any:
                return None
            current = value
        else:
            return f"{path}: {part!r} is below a plain value"
    return None


def _path_parts(expression: str) -> list[str]:
    """``.a[0].b[?(@.x=="y")]`` → ``["a", "b"]``: indexes and filters do not change fields."""
    expression = re.sub(r"\[[^\]]*\]", "", expression.strip())
    return [p for p in re.split(r"\.", expression.lstrip("@")) if p]


def jsonpath_paths(template: str) -> Iterator[list[str]]:
    """Absolute field paths a kubectl jsonpath template reads (``{range}`` resolved; the
    ``items`` of a list are the objects themselves)."""
    stack: list[list[str]] = [[]]
    for expression in re.findall(r"\{([^{}]*)\}", template):
        expression = expression.strip()
        if expression == "end":
            if len(stack) > 1:
                stack.pop()
            continue
        is_range = expression.startswith("range ")
        expression = expression.removeprefix("range ").strip()
        if not expression.startswith((".", "@")):
            continue  # a literal such as {"\n"}
        parts = _path_parts(expression)
        if not is_range and stack == [[]] and parts[:1] == ["items"]:
            parts = parts[1:]
        full = stack[-1] + parts
        if full and full[0] == "items":
            full = full[1:]
        if is_range:
            stack.append(full)
        elif full:
            yield full


def output_paths(command: Command) -> Iterator[list[str]]:
    """The field paths of a command's -o jsonpath/custom-columns, --sort-by and --for."""
    for output in command.values("-o", "--output"):
        kind, _, template = output.partition("=")
        if kind in ("jsonpath", "jsonpath-as-json"):
            yield from jsonpath_paths(template)
        elif kind == "custom-columns":
            for column in template.split(","):
                yield _path_parts(column.partition(":")[2])
    for sort in command.values("--sort-by"):
        yield from jsonpath_paths(sort if sort.startswith("{") else "{" + sort + "}")
    for wait in command.values("--for"):
        match = re.match(r"jsonpath=(\{[^}]*\}|[^=]*)", wait)
        if match:
            text = match[1] if match[1].startswith("{") else "{" + match[1] + "}"
            yield from jsonpath_paths(text)
