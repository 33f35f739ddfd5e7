"""``when`` conditions: CEL expressions over the upstream steps' phases and outputs.

CEL is the language Kubernetes uses for CRD validation rules, so users already know it. It is
evaluated over structured data (``steps.<name>.phase``, ``steps.<name>.outputs.<param>``),
never by substituting text, and the steps an expression reads are found statically from its
syntax tree, so a reference to a step that is not upstream is reported before anything runs.

Anyone who may create a JobFlow writes these expressions, so their cost is bounded: at most
``MAX_WHEN_LENGTH`` characters, nested at most ``MAX_DEPTH`` levels, checked in one pass over
the syntax tree, and without CEL's list macros (``all``, ``exists``, ``map``...) or any
function not in ``FUNCTIONS``/``METHODS``: what remains evaluates in time linear in the
expression.

Two caches, each bounded by bytes: what a condition reads (or why it is refused), which every
validation of a spec needs and which is small; and the parsed programs, which only starting a
step needs and which are large (a syntax tree holds about 900 bytes a node: some 1 MB for a
condition of 2000 characters).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import celpy
import lark
from cachetools import LRUCache
from celpy import celtypes
from celpy.adapter import json_to_cel
from celpy.celparser import CELParseError
from celpy.evaluation import CELEvalError

from zen_flow.api.spec import MAX_WHEN_LENGTH

ALWAYS = frozenset({"always", "true"})
NEVER = frozenset({"never", "false"})
STEPS = "steps"

MAX_DEPTH = 256  # levels of the syntax tree; one level of parentheses is about ten
CONDITIONS_CACHE_BYTES = 16 * 1024 * 1024
PROGRAMS_CACHE_BYTES = 16 * 1024 * 1024
# What a parsed program holds, per node of its syntax tree and in all: tracemalloc measured
# 1.02 to 1.08 times 800 bytes a node on conditions of 90 to 2000 characters (bench/when.py).
BYTES_PER_NODE = 900
BYTES_PER_PROGRAM = 2048
BYTES_PER_CONDITION = 256

FUNCTIONS = frozenset({"size", "has", "int", "uint", "double", "string", "bool", "matches"})
METHODS = frozenset({"size", "startsWith", "endsWith", "contains", "matches"})
MACROS = frozenset({"all", "exists", "exists_one", "map", "filter"})
# The grammar's nodes that a condition may use; the others build messages or read names
# from outside ``steps``.
NODES = frozenset(
    {
        "expr",
        "conditionalor",
        "conditionaland",
        "relation",
        "relation_lt",
        "relation_le",
        "relation_gt",
        "relation_ge",
        "relation_eq",
        "relation_ne",
        "relation_in",
        "addition",
        "addition_add",
        "addition_sub",
        "multiplication",
        "multiplication_mul",
        "multiplication_div",
        "multiplication_mod",
        "unary",
        "unary_not",
        "unary_neg",
        "member",
        "member_dot",
        "member_dot_arg",
        "member_index",
        "primary",
        "ident",
        "ident_arg",
        "paren_expr",
        "list_lit",
        "map_lit",
        "exprlist",
        "mapinits",
        "literal",
    }
)


class WhenError(ValueError):
    """The expression does not parse, reads something it may not, or does not give a bool."""


@dataclass(frozen=True)
class WhenCondition:
    """A checked ``when``: a constant, or a CEL expression and the steps it reads."""

    source: str
    constant: bool | None
    steps: frozenset[str]

    def evaluate(self, steps: Mapping[str, Mapping[str, Any]]) -> bool:
        """The condition's value given ``steps[name] = {"phase": ..., "outputs": {...}}``."""
        if self.constant is not None:
            return self.constant
        activation = {STEPS: json_to_cel({n: dict(steps[n]) for n in sorted(self.steps)})}
        try:
            result = _program(self.source).program.evaluate(activation)
        except CELEvalError as error:
            raise WhenError(f"evaluating {self.source!r}: {_eval_message(error)}") from error
        if not isinstance(result, celtypes.BoolType):
            raise WhenError(f"{self.source!r} gives {type(result).__name__}, not a bool")
        return bool(result)

    @property
    def size(self) -> int:
        """Estimated bytes held, for the cache's bound."""
        return BYTES_PER_CONDITION + 2 * len(self.source) + 64 * len(self.steps)


@dataclass(frozen=True)
class _Program:
    program: Any
    size: int


def compile_when(source: str) -> WhenCondition:
    """Check a ``when``: the steps it reads; ``WhenError`` for a syntax error or an unsupported
    construct. Cached, failures too: every sync that validates a spec checks its conditions."""
    with _lock:
        known = _conditions.get(source)
    if known is None:
        try:
            known = _check(source)
        except WhenError as error:
            known = error
        with _lock:
            _conditions[source] = known
    if isinstance(known, WhenError):
        raise known
    return known


def _program(source: str) -> _Program:
    with _lock:
        known = _programs.get(source)
    if known is None:
        tree = _parse(source.strip())
        _, nodes = _inspect(tree)
        size = BYTES_PER_PROGRAM + BYTES_PER_NODE * nodes + 2 * len(source)
        known = _Program(_environment().program(tree), size)
        with _lock:
            _programs[source] = known
    return known


def _condition_size(entry: WhenCondition | WhenError) -> int:
    if isinstance(entry, WhenCondition):
        return entry.size
    return BYTES_PER_CONDITION + 2 * len(str(entry))


def _program_size(entry: _Program) -> int:
    return entry.size


_lock = threading.Lock()
_conditions: LRUCache[str, WhenCondition | WhenError] = LRUCache(
    CONDITIONS_CACHE_BYTES, getsizeof=_condition_size
)
_programs: LRUCache[str, _Program] = LRUCache(PROGRAMS_CACHE_BYTES, getsizeof=_program_size)


def clear_caches() -> None:
    """Forget every checked condition and parsed program (for measurements)."""
    with _lock:
        _conditions.clear()
        _programs.clear()


def cache_bytes() -> int:
    """The estimated bytes both caches hold now."""
    with _lock:
        return int(_conditions.currsize + _programs.currsize)


def _check(source: str) -> WhenCondition:
    text = source.strip()
    if text in ALWAYS:
        return WhenCondition(source, True, frozenset())
    if text in NEVER:
        return WhenCondition(source, False, frozenset())
    if len(source) > MAX_WHEN_LENGTH:
        raise WhenError(f"is {len(source)} characters long; at most {MAX_WHEN_LENGTH} are allowed")
    steps, _ = _inspect(_parse(text))
    return WhenCondition(source, None, steps)


def _parse(text: str) -> lark.Tree[Any]:
    try:
        tree: lark.Tree[Any] = _environment().compile(text)
    except CELParseError as error:
        detail = str(error).strip().splitlines()[0] if str(error).strip() else "syntax error"
        raise WhenError(f"does not parse as CEL: {detail}") from error
    return tree


@cache
def _environment() -> celpy.Environment:
    """One CEL environment for every condition: its parser is built once.

    celpy lowers the interpreter's recursion limit to 2500 when it builds one; a limit the
    process raised on purpose (deep JSON, see ``zen_flow.engine.wire``) is put back.
    """
    limit = sys.getrecursionlimit()
    environment = celpy.Environment()
    sys.setrecursionlimit(max(limit, sys.getrecursionlimit()))
    return environment


def _inspect(tree: lark.Tree[Any]) -> tuple[frozenset[str], int]:
    """The steps a condition reads and its number of nodes, in one pass over its tree.

    ``WhenError`` for anything a condition may not use: a name other than ``steps``, ``steps``
    not followed by a step name, a function, method or macro not allowed, too deep a tree.
    """
    steps: set[str] = set()
    count = 0
    pending: list[tuple[lark.Tree[Any], int]] = [(tree, 1)]
    while pending:
        node, depth = pending.pop()
        count += 1
        if depth > MAX_DEPTH:
            raise WhenError(f"is nested more than {MAX_DEPTH // 10} levels deep")
        _check_node(node)
        children = [child for child in node.children if isinstance(child, lark.Tree)]
        if node.data in ("member_dot", "member_index") and _is_steps(node.children[0]):
            steps.add(_step_name(node))
            children = children[1:]  # ``steps`` itself, used as it must be
        elif _is_steps(node):
            raise WhenError("'steps' must be followed by a step name, e.g. steps.extract.phase")
        pending.extend((child, depth + 1) for child in children)
    return frozenset(steps), count


def _check_node(node: lark.Tree[Any]) -> None:
    kind = node.data
    if kind not in NODES:
        raise WhenError(f"{_describe(kind)} cannot be used in a when condition")
    if kind == "ident" and _token(node) != STEPS:
        raise WhenError(
            f"unknown variable {_token(node)!r}: only 'steps' may be used "
            "(e.g. steps.extract.phase == 'Succeeded')"
        )
    if kind == "ident_arg" and _token(node) not in FUNCTIONS:
        raise WhenError(_unsupported_call(_token(node), FUNCTIONS))
    if kind == "member_dot_arg" and str(node.children[1]) not in METHODS:
        raise WhenError(_unsupported_call(str(node.children[1]), METHODS))


def _unsupported_call(name: str, allowed: frozenset[str]) -> str:
    if name in MACROS:
        return (
            f"the macro {name!r} is not allowed in a when condition (its cost would have "
            "no bound): compare named steps with && and ||"
        )
    return f"the function {name!r} is not allowed; use one of {', '.join(sorted(allowed))}"


def _describe(kind: str) -> str:
    return {
        "member_object": "building a message (Type{...})",
        "dot_ident": "a name starting with '.'",
        "dot_ident_arg": "a function call starting with '.'",
    }.get(kind, f"the construct {kind!r}")


def _step_name(node: lark.Tree[Any]) -> str:
    """The step of ``steps.<name>`` or ``steps['<name>']``."""
    if node.data == "member_dot":
        return str(node.children[1])
    name = _string_literal(node.children[1])
    if name is None:
        raise WhenError("steps[...] must be indexed by a quoted step name")
    return name


def _token(node: lark.Tree[Any]) -> str:
    return str(node.children[0]) if node.children else ""


def _is_steps(node: object) -> bool:
    """A ``member`` that is just the identifier ``steps``."""
    if not isinstance(node, lark.Tree) or node.data != "member" or len(node.children) != 1:
        return False
    primary = node.children[0]
    if not (isinstance(primary, lark.Tree) and primary.data == "primary"):
        return False
    ident = primary.children[0]
    return isinstance(ident, lark.Tree) and ident.data == "ident" and _token(ident) == STEPS


def _string_literal(node: object) -> str | None:
    """The value of an expression that is a single quoted-string literal, else None.

    Such an expression is a chain of nodes with one child each down to the literal, so this
    walks only that chain.
    """
    for current in _single_child_chain(node):
        if current.data == "literal":
            token = _token(current)
            if len(token) >= 2 and token[0] in "'\"" and token[-1] == token[0]:
                return token[1:-1]
            return None
    return None


def _single_child_chain(node: object) -> Iterator[lark.Tree[Any]]:
    while isinstance(node, lark.Tree):
        yield node
        if len(node.children) != 1:
            return
        node = node.children[0]


def _eval_message(error: CELEvalError) -> str:
    args = error.args
    return str(args[0]) if args else str(error)
