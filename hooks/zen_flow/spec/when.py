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

import difflib
import re
import sys
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import celpy
import lark
import re2
from cachetools import LRUCache
from celpy import celtypes
from celpy.adapter import json_to_cel
from celpy.celparser import CELParseError
from celpy.evaluation import CELEvalError

from zen_flow.api.spec import MAX_WHEN_LENGTH
from zen_flow.api.status import StepPhase
from zen_flow.spec import syntax

ALWAYS = frozenset({"always", "true"})
NEVER = frozenset({"never", "false"})
STEPS = "steps"
# The outcome of spec.steps, which finally steps may read: flow.phase and flow.reason.
FLOW = "flow"
FLOW_FIELDS = ("phase", "reason")

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
    """The expression does not parse, reads something it may not, or does not give a bool.

    ``line`` and ``column`` (from 1) locate the problem in the expression when known.
    """

    def __init__(self, message: str, line: int | None = None, column: int | None = None) -> None:
        super().__init__(message)
        self.line = line
        self.column = column


@dataclass(frozen=True)
class WhenCondition:
    """A checked ``when``: a constant, or a CEL expression and the steps it reads."""

    source: str
    constant: bool | None
    steps: frozenset[str]
    reads_flow: bool = False

    def evaluate(
        self, steps: Mapping[str, Mapping[str, Any]], flow: Mapping[str, str] | None = None
    ) -> bool:
        """The condition's value given ``steps[name] = {"phase": ..., "outputs": {...}}`` and,
        for a finally step, ``flow = {"phase": ..., "reason": ...}``."""
        if self.constant is not None:
            return self.constant
        activation = {STEPS: json_to_cel({n: dict(steps[n]) for n in sorted(self.steps)})}
        if self.reads_flow:
            activation[FLOW] = json_to_cel(dict(flow or {"phase": "", "reason": ""}))
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
        _, nodes, _ = _inspect(tree)
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
    tree = _parse(text)
    try:
        steps, _, reads_flow = _inspect(tree)
    except WhenError as error:
        dashed = _dashed_name(text)
        if dashed is None:
            raise
        raise dashed from error
    found = _not_a_bool(tree)
    if found is not None:
        what, example = found
        raise WhenError(f"gives {what}, not true or false: compare it, e.g. {example}")
    return WhenCondition(source, None, steps, reads_flow)


# ``steps.load-db.phase`` parses as ``steps.load - db.phase``.
_DASHED = re.compile(r"\bsteps\.([a-z0-9]+(?:-[a-z0-9]+)+)((?:\.[A-Za-z_][A-Za-z0-9_]*)*)")


def _dashed_name(text: str) -> WhenError | None:
    """The error to give instead when the condition reads a dashed step name with a dot."""
    match = _DASHED.search(text)
    if match is None:
        return None
    name, rest = match.groups()
    first, minus = name.split("-", 1)
    return WhenError(
        f"{match.group(0)} reads as steps.{first} minus {minus}{rest}: write a step name "
        f"with a dash as steps['{name}']{rest}",
        text.count("\n", 0, match.start()) + 1,
        match.start() - text.rfind("\n", 0, match.start()),
    )


def _parse(text: str) -> lark.Tree[Any]:
    try:
        tree: lark.Tree[Any] = _environment().compile(text)
    except CELParseError as error:
        # celpy raises its own error from lark's, which says what was expected.
        cause = error.__cause__ or error.__context__
        line, column = syntax.position(text, cause, error.line, error.column)
        detail = syntax.describe(text, cause, line, column)
        raise WhenError(f"does not parse as CEL: {detail}", line, column) from error
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


def _inspect(tree: lark.Tree[Any]) -> tuple[frozenset[str], int, bool]:
    """The steps a condition reads, its number of nodes and whether it reads ``flow``, in
    one pass over its tree.

    ``WhenError`` for anything a condition may not use: a name other than ``steps``, ``steps``
    not followed by a step name, a field a step does not have, a function, method or macro
    not allowed, a phase that does not exist, too deep a tree. Each node is visited once
    (the chains ``a.b[c].d`` are unrolled as a whole), so the cost is linear.
    """
    steps: set[str] = set()
    reads_flow = False
    count = 0
    # A phase compared with text that is no phase is reported only if nothing else is wrong.
    wrong_phase: WhenError | None = None
    pending: list[tuple[lark.Tree[Any], int]] = [(tree, 1)]
    while pending:
        node, depth = pending.pop()
        count += 1
        if depth > MAX_DEPTH:
            raise WhenError(f"is nested more than {MAX_DEPTH // 10} levels deep")
        _check_node(node)
        if node.data in _ACCESS:
            base, accessors = _access_chain(node)
            count += 2 * len(accessors) - 1
            depth += 2 * len(accessors)
            children = [a.children[1] for a in accessors if a.data == "member_index"]
            if _is_steps(base):
                steps.add(_step_access(accessors))
            elif _is_steps(base, FLOW):
                _flow_access(accessors)
                reads_flow = True
            else:
                children.append(base)
            pending.extend((child, depth) for child in children if isinstance(child, lark.Tree))
            continue
        if _is_steps(node):
            raise WhenError(_BARE_STEPS)
        if _is_steps(node, FLOW):
            raise WhenError(_BARE_FLOW)
        if node.data == "relation" and wrong_phase is None:
            wrong_phase = _wrong_phase(node)
        children = [child for child in node.children if isinstance(child, lark.Tree)]
        pending.extend((child, depth + 1) for child in children)
    if wrong_phase is not None:
        raise wrong_phase
    return frozenset(steps), count, reads_flow


# Member access: ``x.name`` and ``x[index]``; ``x.name(args)`` is a call, checked apart.
_ACCESS = frozenset({"member_dot", "member_index"})
STEP_FIELDS = ("phase", "outputs")
PHASES = tuple(phase.value for phase in StepPhase)
_BARE_STEPS = "'steps' must be followed by a step name, e.g. steps.extract.phase"
_BARE_FLOW = "'flow' must be followed by .phase or .reason, e.g. flow.phase == 'Failed'"


def _access_chain(node: lark.Tree[Any]) -> tuple[Any, list[lark.Tree[Any]]]:
    """``a.b[c].d`` as its base ``a`` and its accessors, innermost first."""
    accessors: list[lark.Tree[Any]] = []
    current: Any = node
    while isinstance(current, lark.Tree) and current.data in _ACCESS:
        accessors.append(current)
        inner = current.children[0]
        # The object of an access is a ``member`` node around the next access or the base.
        if (
            isinstance(inner, lark.Tree)
            and inner.data == "member"
            and len(inner.children) == 1
            and isinstance(inner.children[0], lark.Tree)
            and inner.children[0].data in _ACCESS
        ):
            current = inner.children[0]
        else:
            current = inner
    accessors.reverse()
    return current, accessors


def _accessor_name(accessor: lark.Tree[Any]) -> str | None:
    """The name an accessor reads: ``.name`` or ``['name']``; None for a computed index."""
    if accessor.data == "member_dot":
        return str(accessor.children[1])
    return _string_literal(accessor.children[1])


def _step_access(accessors: list[lark.Tree[Any]]) -> str:
    """The step that ``steps.<step>.<field>...`` reads, once its fields are checked against
    what a step has: ``phase`` (a string) and ``outputs`` (a map of strings)."""
    step = _accessor_name(accessors[0])
    if step is None:
        raise WhenError("steps[...] must be indexed by a quoted step name")
    ref = _step_ref(step)
    if len(accessors) == 1:
        raise WhenError(
            f"{ref} is a step, not a value: read {ref}.phase or {ref}.outputs.<parameter>"
        )
    field = _accessor_name(accessors[1])
    if field not in STEP_FIELDS:
        shown = field if field is not None else "[...]"
        raise WhenError(_unknown_field(ref, shown), *_position(accessors[1]))
    limit = 2 if field == "phase" else 3
    if len(accessors) > limit:
        what = f"{ref}.phase" if field == "phase" else f"{ref}.outputs.<parameter>"
        extra = _accessor_name(accessors[limit]) or "[...]"
        raise WhenError(
            f'{what} is a string: it has no field "{extra}"', *_position(accessors[limit])
        )
    return step


def _flow_access(accessors: list[lark.Tree[Any]]) -> None:
    """``flow.phase`` or ``flow.reason``: strings, with no fields of their own."""
    field = _accessor_name(accessors[0])
    if field not in FLOW_FIELDS:
        shown = field if field is not None else "[...]"
        raise WhenError(
            f'flow has no field "{shown}": it has phase and reason', *_position(accessors[0])
        )
    if len(accessors) > 1:
        extra = _accessor_name(accessors[1]) or "[...]"
        raise WhenError(
            f'flow.{field} is a string: it has no field "{extra}"', *_position(accessors[1])
        )


def _step_ref(step: str) -> str:
    """How a condition writes a step: ``steps.load`` or, with a dash, ``steps['load-db']``."""
    return f"steps.{step}" if step.replace("_", "").isalnum() else f"steps['{step}']"


def _unknown_field(ref: str, field: str) -> str:
    message = f'{ref} has no field "{field}": a step has phase and outputs.<parameter>'
    close = difflib.get_close_matches(field, STEP_FIELDS, n=1)
    return message + (f"; did you mean {ref}.{close[0]}?" if close else "")


def _position(accessor: lark.Tree[Any]) -> tuple[int | None, int | None]:
    """Where the name an accessor reads starts."""
    token = accessor.children[1]
    if isinstance(token, lark.Token):
        return token.line, token.column
    meta = accessor.children[1].meta if isinstance(accessor.children[1], lark.Tree) else None
    return (meta.line, meta.column) if meta is not None and not meta.empty else (None, None)


def _check_node(node: lark.Tree[Any]) -> None:
    kind = node.data
    if kind not in NODES:
        raise WhenError(f"{_describe(kind)} cannot be used in a when condition")
    if kind == "ident" and _token(node) not in (STEPS, FLOW):
        token = node.children[0]
        raise WhenError(
            f"unknown variable {_token(node)!r}: only 'steps' (and, in a finally step, "
            "'flow') may be used (e.g. steps.extract.phase == 'Succeeded')",
            getattr(token, "line", None),
            getattr(token, "column", None),
        )
    if kind == "ident_arg" and _token(node) not in FUNCTIONS:
        raise WhenError(_unsupported_call(_token(node), FUNCTIONS))
    if kind == "member_dot_arg" and str(node.children[1]) not in METHODS:
        raise WhenError(_unsupported_call(str(node.children[1]), METHODS))
    if kind in ("member_dot_arg", "ident_arg") and _call_name(node) == "matches":
        problem = _pattern_problem(node)
        if problem is not None:
            raise problem


def _call_name(node: lark.Tree[Any]) -> str:
    return str(node.children[1]) if node.data == "member_dot_arg" else _token(node)


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


# --- what a condition gives -------------------------------------------------------------------

# Nodes that hold one operand and pass its value on.
_WRAPPERS = frozenset(
    {"expr", "conditionalor", "conditionaland", "relation", "addition", "multiplication"}
    | {"unary", "member", "primary", "paren_expr"}
)
_BOOL_CALLS = frozenset({"has", "matches", "bool", "startsWith", "endsWith", "contains"})
_NUMBER_CALLS = frozenset({"size", "int", "uint", "double"})


def _not_a_bool(tree: lark.Tree[Any]) -> tuple[str, str] | None:
    """What the condition gives when that is surely not true or false, and an example of
    the comparison meant (e.g. ("a string, steps.a.phase", "steps.a.phase == 'Succeeded'"));
    None when it gives a bool or cannot be known before it runs. Follows the tree from its
    root through nodes that pass one operand on, into both branches of ``? :``: each node
    at most once."""
    pending = [tree]
    while pending:
        node = pending.pop()
        children = [child for child in node.children if isinstance(child, lark.Tree)]
        if node.data == "expr" and len(children) == 3:  # condition ? a : b
            pending.extend(children[1:])
        elif node.data in _WRAPPERS and len(children) == 1 and len(node.children) == 1:
            pending.append(children[0])
        else:
            found = _value_kind(node, children)
            if found is not None:
                return found
    return None


_EXAMPLE = "steps.extract.phase == 'Succeeded'"


def _value_kind(node: lark.Tree[Any], children: list[lark.Tree[Any]]) -> tuple[str, str] | None:
    """What a node that does not just pass an operand on gives, if surely not a bool."""
    kind = node.data
    if kind in ("addition", "multiplication") or (
        kind == "unary" and children[0].data == "unary_neg"
    ):
        return "a number (the result of arithmetic)", "size(steps.a.outputs.rows) > 0"
    if kind in _ACCESS:
        return _access_kind(node)
    if kind == "member_dot_arg" or kind == "ident_arg":
        name = str(node.children[1]) if kind == "member_dot_arg" else _token(node)
        if name in _NUMBER_CALLS:
            return f"a number ({name}())", f"{name}(...) > 0"
        return ("a string (string())", _EXAMPLE) if name == "string" else None
    if kind == "literal":
        found = _literal_kind(_token(node))
        return (found, _EXAMPLE) if found is not None else None
    if kind in ("list_lit", "map_lit"):
        return ("a list" if kind == "list_lit" else "a map"), _EXAMPLE
    return None


def _access_kind(node: lark.Tree[Any]) -> tuple[str, str] | None:
    base, accessors = _access_chain(node)
    if _is_steps(base, FLOW) and accessors:
        field = _accessor_name(accessors[0])
        return f"a string, flow.{field}", f"flow.{field} == 'Failed'"
    if not _is_steps(base) or len(accessors) < 2:
        return None
    ref = _step_ref(_accessor_name(accessors[0]) or "?")
    field = _accessor_name(accessors[1])
    if field == "phase":
        return f"a string, {ref}.phase", f"{ref}.phase == 'Succeeded'"
    if len(accessors) == 2:
        return f"a map, {ref}.outputs", f"has({ref}.outputs.rows)"
    parameter = _accessor_name(accessors[2])
    text = f"{ref}.outputs.{parameter}" if parameter else f"{ref}.outputs[...]"
    return f"a string, {text}", f"{text} == 'yes'"


def _literal_kind(token: str) -> str | None:
    if token in ("true", "false"):
        return None
    if token == "null":
        return "null"
    if token[:1] in "'\"" or token[:2].lower() in ("r'", 'r"'):
        return f"a string, {token}"
    if token[:1].lower() == "b":
        return "bytes"
    return f"a number, {token}"


# --- phases compared with text ----------------------------------------------------------------


def _wrong_phase(node: lark.Tree[Any]) -> WhenError | None:
    """``steps.a.phase == 'Succeded'`` can never hold: the error for a phase compared with
    text that is no phase, else None. Reads only the two operands' single-child chains."""
    if len(node.children) != 2:
        return None
    operator, right = node.children
    if not (isinstance(operator, lark.Tree) and isinstance(right, lark.Tree)):
        return None
    if operator.data not in ("relation_eq", "relation_ne", "relation_in"):
        return None
    sides = [_operand(operator.children[0]), _operand(right)]
    whose = next((side for side in sides if isinstance(side, str) and side in _PHASES_OF), None)
    if whose is None:
        return None
    phases = _PHASES_OF[str(whose)]
    for side in sides:
        for text in side if isinstance(side, list) else []:
            if text not in phases:
                close = difflib.get_close_matches(text, phases, n=1, cutoff=0.6)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                return WhenError(
                    f"'{text}' is not a phase: {whose}'s phase is one of "
                    f"{', '.join(phases[:-1])} or {phases[-1]}{hint}"
                )
    return None


# Whose phase an operand reads, and the phases it can have: a step's, or the outcome of
# spec.steps that finally steps read.
_PHASES_OF = {"a step": PHASES, "the flow": ("Succeeded", "Failed")}


def _operand(node: object) -> str | list[str] | None:
    """ "a step" for ``steps.<step>.phase``, "the flow" for ``flow.phase``; the texts of a
    quoted string or of a list of quoted strings; else None."""
    for current in _single_child_chain(node):
        if current.data in _ACCESS:
            base, accessors = _access_chain(current)
            if _is_steps(base, FLOW):
                return "the flow" if _accessor_name(accessors[0]) == "phase" else None
            is_phase = len(accessors) == 2 and _accessor_name(accessors[1]) == "phase"
            return "a step" if _is_steps(base) and is_phase else None
        if current.data == "literal":
            text = _string_literal(current)
            return [text] if text is not None else None
        if current.data == "list_lit":
            return _string_list(current)
    return None


def _string_list(node: lark.Tree[Any]) -> list[str] | None:
    items = node.children[0].children if node.children else []
    texts = [_string_literal(item) for item in items]
    return None if any(text is None for text in texts) else [t for t in texts if t is not None]


# --- small readers -----------------------------------------------------------------------------


def _token(node: lark.Tree[Any]) -> str:
    return str(node.children[0]) if node.children else ""


def _is_steps(node: object, name: str = STEPS) -> bool:
    """A ``member`` that is just the identifier ``steps`` (or ``name``)."""
    if not isinstance(node, lark.Tree) or node.data != "member" or len(node.children) != 1:
        return False
    primary = node.children[0]
    if not (isinstance(primary, lark.Tree) and primary.data == "primary"):
        return False
    ident = primary.children[0]
    return isinstance(ident, lark.Tree) and ident.data == "ident" and _token(ident) == name


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
    text = str(args[0]) if args else str(error)
    missing = re.fullmatch(r"no such member in mapping: '(.*)'", text)
    if missing:
        return (
            f'no output "{missing[1]}" (outputs are not collected yet); test for one with '
            f"has(), e.g. has(steps.<name>.outputs.{missing[1]})"
        )
    return text


def _pattern_problem(node: lark.Tree[Any]) -> WhenError | None:
    """A ``matches`` whose pattern is a quoted string RE2 cannot compile fails when it runs:
    the error to give now. Patterns with escapes are left to run time (CEL unescapes them)."""
    if node.data == "member_dot_arg":
        arguments = node.children[2] if len(node.children) > 2 else None
        position = 0
    else:
        arguments = node.children[1] if len(node.children) > 1 else None
        position = 1
    if not isinstance(arguments, lark.Tree) or len(arguments.children) <= position:
        return None
    pattern = _string_literal(arguments.children[position])
    if pattern is None or "\\" in pattern:
        return None
    try:
        re2.compile(pattern, _RE2_OPTIONS)
    except re2.error as error:
        detail = (
            error.args[0].decode() if error.args and isinstance(error.args[0], bytes) else error
        )
        return WhenError(f"matches('{pattern}'): not a regular expression: {detail}")
    return None


_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # the error is reported here, not on stderr
