"""``when`` conditions: CEL expressions over the upstream steps' phases and outputs.

CEL is the language Kubernetes uses for CRD validation rules, so users already know it. It is
evaluated over structured data (``steps.<name>.phase``, ``steps.<name>.outputs.<param>``),
never by substituting text, and the steps an expression reads are found statically from its
syntax tree, so a reference to a step that is not upstream is reported before anything runs.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import celpy
import lark
from celpy import celtypes
from celpy.adapter import json_to_cel
from celpy.celparser import CELParseError
from celpy.evaluation import CELEvalError

ALWAYS = frozenset({"always", "true"})
NEVER = frozenset({"never", "false"})
STEPS = "steps"


class WhenError(ValueError):
    """The expression does not parse, reads something it may not, or does not give a bool."""


@dataclass(frozen=True)
class WhenCondition:
    """A compiled ``when``: a constant, or a CEL program and the steps it reads."""

    source: str
    constant: bool | None
    steps: frozenset[str]
    program: Any = None

    def evaluate(self, steps: Mapping[str, Mapping[str, Any]]) -> bool:
        """The condition's value given ``steps[name] = {"phase": ..., "outputs": {...}}``."""
        if self.constant is not None:
            return self.constant
        activation = {STEPS: json_to_cel({n: dict(steps[n]) for n in sorted(self.steps)})}
        try:
            result = self.program.evaluate(activation)
        except CELEvalError as error:
            raise WhenError(f"evaluating {self.source!r}: {_eval_message(error)}") from error
        if not isinstance(result, celtypes.BoolType):
            raise WhenError(f"{self.source!r} gives {type(result).__name__}, not a bool")
        return bool(result)


@lru_cache(maxsize=8192)
def compile_when(source: str) -> WhenCondition:
    """Compile a ``when``; ``WhenError`` for a syntax error or an unsupported reference.

    Cached: a flow's expressions are compiled on every sync, and compiling is pure.
    """
    text = source.strip()
    if text in ALWAYS:
        return WhenCondition(source, True, frozenset())
    if text in NEVER:
        return WhenCondition(source, False, frozenset())
    environment = celpy.Environment()
    try:
        tree = environment.compile(text)
    except CELParseError as error:
        detail = str(error).strip().splitlines()[0] if str(error).strip() else "syntax error"
        raise WhenError(f"does not parse as CEL: {detail}") from error
    steps = frozenset(_referenced_steps(tree))
    return WhenCondition(source, None, steps, environment.program(tree))


def _referenced_steps(tree: lark.Tree[Any]) -> Iterator[str]:
    """Names in ``steps.<name>`` and ``steps['<name>']``; any other use of ``steps`` is refused."""
    for node in tree.iter_subtrees():
        if node.data == "ident" and _token(node) not in (STEPS,):
            raise WhenError(
                f"unknown variable {_token(node)!r}: only 'steps' may be used "
                "(e.g. steps.extract.phase == 'Succeeded')"
            )
    for node in tree.iter_subtrees():
        if node.data not in ("member_dot", "member_index"):
            continue
        base = node.children[0]
        if not (isinstance(base, lark.Tree) and _is_steps(base)):
            continue
        if node.data == "member_dot":
            yield str(node.children[1])
        else:
            name = _string_literal(node.children[1])
            if name is None:
                raise WhenError("steps[...] must be indexed by a quoted step name")
            yield name
    for node in tree.iter_subtrees():
        if _is_steps(node) and not _used_as_base(tree, node):
            raise WhenError("'steps' must be followed by a step name, e.g. steps.extract.phase")


def _token(node: lark.Tree[Any]) -> str:
    return str(node.children[0]) if node.children else ""


def _is_steps(node: lark.Tree[Any]) -> bool:
    """A ``member`` that is just the identifier ``steps``."""
    if node.data != "member" or len(node.children) != 1:
        return False
    primary = node.children[0]
    if not (isinstance(primary, lark.Tree) and primary.data == "primary"):
        return False
    ident = primary.children[0]
    return isinstance(ident, lark.Tree) and ident.data == "ident" and _token(ident) == STEPS


def _used_as_base(tree: lark.Tree[Any], steps_node: lark.Tree[Any]) -> bool:
    for node in tree.iter_subtrees():
        if node.data in ("member_dot", "member_index") and node.children[0] is steps_node:
            return True
    return False


def _string_literal(node: Any) -> str | None:
    """The value of a single quoted-string literal expression, else None."""
    literals = [t for t in node.iter_subtrees() if t.data == "literal"]
    leaves = list(node.scan_values(lambda _: True))
    if len(literals) != 1 or len(leaves) != 1:
        return None
    token = str(literals[0].children[0])
    if len(token) < 2 or token[0] not in "'\"" or token[-1] != token[0]:
        return None
    return token[1:-1]


def _eval_message(error: CELEvalError) -> str:
    args = error.args
    return str(args[0]) if args else str(error)
