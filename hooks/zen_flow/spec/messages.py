"""Validation errors of the models, said in the product's words.

pydantic describes a problem in its own terms (``String should match pattern '^([0-9]+...'``,
``List should have at least 1 item after validation``); a user wrote YAML and reads
``invalid duration "10 sec": use e.g. "30s", "10m", "1h30m", "500ms"``. Every error type the
models can raise has its sentence here (a test walks the models' schema to keep it so).
"""

from __future__ import annotations

import difflib
import json
import re
import string
import types
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel

from zen_flow.api.durations import DURATION_EXAMPLES
from zen_flow.api.fields import field_name
from zen_flow.api.spec import DNS1123_LABEL, DURATION_PATTERN, IDENTIFIER, JobFlowSpec

NAME_RULE = (
    "at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit"
)
# A pattern's meaning, for the patterns the models use.
_PATTERNS = {
    DURATION_PATTERN: "invalid duration {value}: " + DURATION_EXAMPLES,
    DNS1123_LABEL: "{value} is not a valid name: " + NAME_RULE,
    IDENTIFIER: "{value} is not a valid parameter name: a letter or '_', then letters, "
    "digits or '_'",
}
_WHOLE_NUMBER = "must be a whole number"
_NUMBER = "must be a number"
_BOOLEAN = "must be true or false"
_OBJECT = "must be an object (a YAML mapping of fields)"
# What each error type means; ``{...}`` are filled from the error's context.
SENTENCES: dict[str, str] = {
    "missing": "required field is missing",
    "string_type": "must be text; in YAML, quote it: {quoted}",
    "string_too_short": "{at_least_characters}",
    "string_too_long": "must have at most {max_length} characters (has {length})",
    "string_pattern_mismatch": "{pattern_meaning}",
    "int_type": _WHOLE_NUMBER,
    "int_parsing": _WHOLE_NUMBER,
    "int_parsing_size": _WHOLE_NUMBER + " of a sensible size",
    "int_from_float": _WHOLE_NUMBER,
    "float_type": _NUMBER,
    "float_parsing": _NUMBER,
    "finite_number": "must be a finite number",
    "bool_type": _BOOLEAN,
    "bool_parsing": _BOOLEAN,
    "greater_than": "must be more than {gt}",
    "greater_than_equal": "must be at least {ge}",
    "less_than": "must be less than {lt}",
    "less_than_equal": "must be at most {le}",
    "literal_error": "{one_of}",
    "enum": "{one_of}",
    "list_type": "must be a list",
    "too_short": "{at_least_items}",
    "too_long": "must have at most {max_length} items (has {actual_length})",
    "dict_type": "must be a mapping of keys to values",
    "model_type": _OBJECT,
    "model_attributes_type": _OBJECT,
    "value_error": "{error}",
    "assertion_error": "{error}",
    "json_invalid": "is not valid JSON: {error}",
    "json_type": "must be JSON text",
    "extra_forbidden": "unknown field{known_fields}",
}
# Types whose input is worth showing after the sentence: "(got "10 sec")".
_SHOW_INPUT = frozenset(
    {"int_type", "int_parsing", "int_parsing_size", "int_from_float", "float_type"}
    | {"float_parsing", "finite_number", "bool_type", "bool_parsing", "greater_than"}
    | {"greater_than_equal", "less_than", "less_than_equal", "literal_error", "enum"}
    | {"list_type", "dict_type", "model_type", "model_attributes_type"}
)
MAX_SHOWN = 60


def describe(detail: Mapping[str, Any], root: type[BaseModel] = JobFlowSpec) -> str:
    """The sentence for one of pydantic's error details (``error.errors()``), whose ``loc``
    is a path inside a ``root`` object."""
    kind = str(detail.get("type", ""))
    template = SENTENCES.get(kind)
    if template is None:
        return str(detail.get("msg", "invalid value"))
    value = detail.get("input")
    context = dict(detail.get("ctx") or {})
    computed: dict[str, Callable[[], Any]] = {
        "quoted": lambda: json.dumps(str(value)),
        "length": lambda: len(value) if isinstance(value, str) else "?",
        "pattern_meaning": lambda: _pattern_meaning(context.get("pattern"), value),
        "one_of": lambda: _one_of(str(context.get("expected", ""))),
        "at_least_characters": lambda: _at_least(context.get("min_length"), "character"),
        "at_least_items": lambda: _at_least_items(detail),
        "error": lambda: _error_text(context.get("error"), detail),
        "known_fields": lambda: _known_fields(detail, root),
    }
    fields = {}
    for _, name, _, _ in string.Formatter().parse(template):
        if name:
            fields[name] = computed[name]() if name in computed else _plain(context.get(name))
    sentence = template.format(**fields)
    if kind in _SHOW_INPUT and "input" in detail:
        sentence += f" (got {shown(value)})"
    return sentence


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """`` (did you mean "load"?)`` when one of ``choices`` is close to ``name``, else ""."""
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f' (did you mean "{close[0]}"?)' if close else ""


def shown(value: Any) -> str:
    """A value as the user wrote it in YAML or JSON, cut when long."""
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "a list"
    text = json.dumps(value) if isinstance(value, str | bool | int | float | None) else str(value)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 4] + '..."'


def _plain(value: Any) -> Any:
    """Numbers as written (100, not 100.0)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _pattern_meaning(pattern: Any, value: Any) -> str:
    if value == "":
        return "must not be empty"
    template = _PATTERNS.get(str(pattern))
    if template is None:
        return f"{shown(value)} does not have the expected form"
    return template.format(value=shown(value))


def _one_of(expected: str) -> str:
    choices = [f'"{choice}"' for choice in re.findall(r"'([^']*)'", expected)]
    if not choices:
        return f"must be {expected}"
    if len(choices) <= 2:
        return "must be " + " or ".join(choices)
    return "must be one of " + ", ".join(choices[:-1]) + f" or {choices[-1]}"


def _at_least(minimum: Any, unit: str) -> str:
    if minimum == 1:
        return "must not be empty"
    return f"must have at least {minimum} {unit}s"


def _at_least_items(detail: Mapping[str, Any]) -> str:
    minimum = (detail.get("ctx") or {}).get("min_length")
    if tuple(detail.get("loc", ())) == ("steps",):
        return "a flow needs at least one step"
    if minimum == 1:
        return "must not be empty: give at least one item"
    return f"must have at least {minimum} items"


def _error_text(error: Any, detail: Mapping[str, Any]) -> str:
    if error is not None:
        return str(error)
    message = str(detail.get("msg", ""))
    return re.sub(r"^(Value error|Assertion failed), ", "", message)


def _known_fields(detail: Mapping[str, Any], root: type[BaseModel]) -> str:
    """ "; did you mean "retryPolicy"?" or the list of the fields the object has."""
    location = tuple(detail.get("loc", ()))
    model = model_at(root, location[:-1])
    if model is None or not location:
        return ""
    names = [field_name(name, info) for name, info in model.model_fields.items()]
    close = difflib.get_close_matches(str(location[-1]), names, n=1)
    if close:
        return f'; did you mean "{close[0]}"?'
    return " (fields here: " + ", ".join(names) + ")"


def path_text(root: type[BaseModel], location: Sequence[int | str], prefix: str = "spec") -> str:
    """``("steps", 0, "metadata", "labels", "app.kubernetes.io/name")`` as
    ``spec.steps[0].metadata.labels["app.kubernetes.io/name"]``: a field of a model after a
    dot, a key of a map in brackets."""
    text = prefix
    current: Any = root
    for part in location:
        current = _unwrapped(current)
        if isinstance(part, int):
            text += f"[{part}]"
            current = get_args(current)[0] if get_origin(current) is list else None
        elif isinstance(current, type) and issubclass(current, BaseModel):
            text += f".{part}"
            fields = {field_name(name, info): info for name, info in current.model_fields.items()}
            current = fields[part].annotation if part in fields else None
        else:
            text += f"[{json.dumps(part)}]"
            current = get_args(current)[1] if get_origin(current) is dict else None
    return text


def model_at(root: type[BaseModel], location: Sequence[int | str]) -> type[BaseModel] | None:
    """The model of the object at ``location`` (wire names and list indices) inside a
    ``root`` object, or None when it is not a model (a map, a free-form object)."""
    current: Any = root
    for part in location:
        current = _unwrapped(current)
        if isinstance(part, int):
            if get_origin(current) is not list:
                return None
            current = get_args(current)[0]
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        fields = {field_name(name, info): info for name, info in current.model_fields.items()}
        if part not in fields:
            return None
        current = fields[part].annotation
    current = _unwrapped(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrapped(tp: Any) -> Any:
    """``X | None`` and ``Annotated[X, ...]`` as ``X``."""
    while True:
        origin = get_origin(tp)
        if origin in (Union, types.UnionType):
            args = [arg for arg in get_args(tp) if arg is not type(None)]
            if len(args) != 1:
                return tp
            tp = args[0]
        elif hasattr(tp, "__metadata__"):
            tp = get_args(tp)[0]
        else:
            return tp
