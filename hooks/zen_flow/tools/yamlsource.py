"""YAML documents with their positions: where in the file a field path is, and which keys a
mapping repeats.

PyYAML composes a document into nodes that carry their marks (line and column) before it
builds Python objects from them; both are kept, so a problem found in the objects
(``spec.steps[2].dependencies[0]``) is reported at its place in the file. A key written
twice in one mapping is invisible in the objects (the last one wins), so it is found in the
nodes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml

# The C loader when PyYAML was built with libyaml: flows of thousands of steps load fast.
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
MERGE_KEY = "<<"


@dataclass(frozen=True)
class Position:
    """A place in a file, from 1, as editors and CI annotations count."""

    line: int
    column: int

    @classmethod
    def of(cls, mark: yaml.Mark) -> Position:
        return cls(mark.line + 1, mark.column + 1)


@dataclass(frozen=True)
class SourceDocument:
    """One document of a stream: its root node and the object built from it."""

    node: yaml.Node
    body: Any


@dataclass(frozen=True)
class DuplicateKey:
    """A key written again in the same mapping: only the last one is kept."""

    path: str
    key: str
    position: Position
    first: Position


def compose_all(text: str) -> Iterator[SourceDocument]:
    """The documents of a YAML stream; ``yaml.YAMLError`` at the first syntax error."""
    loader = _Loader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            yield SourceDocument(node, loader.construct_document(node))
    finally:
        loader.dispose()


def duplicate_keys(root: yaml.Node, prefix: str = "") -> list[DuplicateKey]:
    """Every key written twice in one mapping under ``root``, with its field path. Each node
    is visited once, aliases included."""
    found: list[DuplicateKey] = []
    seen: set[int] = set()
    pending: list[tuple[yaml.Node, str]] = [(root, prefix)]
    while pending:
        node, path = pending.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            first: dict[str, yaml.Node] = {}
            for key, value in node.value:
                name = str(key.value) if isinstance(key, yaml.ScalarNode) else None
                if name is None or name == MERGE_KEY:
                    continue
                if name in first:
                    found.append(
                        DuplicateKey(
                            _join(path, name),
                            name,
                            Position.of(key.start_mark),
                            Position.of(first[name].start_mark),
                        )
                    )
                else:
                    first[name] = key
                pending.append((value, _join(path, name)))
        elif isinstance(node, yaml.SequenceNode):
            pending.extend((item, f"{path}[{index}]") for index, item in enumerate(node.value))
    found.sort(key=lambda duplicate: (duplicate.position.line, duplicate.position.column))
    return found


_NAME = re.compile(r"[A-Za-z0-9_$-]+$")


def _join(path: str, key: str) -> str:
    if _NAME.match(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key)}]"


@dataclass(frozen=True)
class Located:
    """Where a field path leads in a document: the deepest node reached, the key that led
    to it, and whether the whole path was found."""

    node: yaml.Node
    key: yaml.Node | None
    complete: bool


_INDEX = re.compile(r"\[(\d+)\]")
_QUOTED = re.compile(r'\[("(?:[^"\\]|\\.)*")\]')


def locate(root: yaml.Node, path: str) -> Located:
    """Follow a field path (``spec.steps[2].dependencies[0]``, ``labels["a.b/c"]``) through
    the nodes. A name may contain dots (``labels.app.kubernetes.io/name``): at each
    mapping the longest key that the rest of the path starts with is taken."""
    node, key, rest = root, None, path
    while rest:
        rest = rest.removeprefix(".")
        step = _step(node, rest)
        if step is None:
            return Located(node, key, complete=False)
        found_key, child, rest = step
        node, key = child, found_key
    return Located(node, key, complete=True)


def _step(node: yaml.Node, rest: str) -> tuple[yaml.Node | None, yaml.Node, str] | None:
    """One step of ``locate``: (key node or None, the child, what remains of the path)."""
    index = _INDEX.match(rest)
    if index is not None:
        if not isinstance(node, yaml.SequenceNode) or int(index.group(1)) >= len(node.value):
            return None
        return None, node.value[int(index.group(1))], rest[index.end() :]
    if not isinstance(node, yaml.MappingNode):
        return None
    quoted = _QUOTED.match(rest)
    if quoted is not None:
        name, after = json.loads(quoted.group(1)), rest[quoted.end() :]
        for key, value in reversed(node.value):
            if isinstance(key, yaml.ScalarNode) and key.value == name:
                return key, value, after
        return None
    best: tuple[yaml.Node, yaml.Node, str] | None = None
    for key, value in reversed(node.value):  # the last of repeated keys is the one used
        name = str(key.value) if isinstance(key, yaml.ScalarNode) else ""
        after = rest[len(name) :]
        fits = rest.startswith(name) and (not after or after[0] in ".[")
        if name and fits and (best is None or len(name) > len(str(best[0].value))):
            best = (key, value, after)
    return best


def position_in_scalar(node: yaml.Node, text: str, offset: int) -> Position | None:
    """Where character ``offset`` of a scalar's value is in the file, for the styles whose
    characters map one to one (plain or quoted on one line, literal ``|`` and folded ``>``
    blocks of plain lines); None when that cannot be told."""
    if not isinstance(node, yaml.ScalarNode) or not isinstance(node.value, str):
        return None
    start, end = node.start_mark, node.end_mark
    raw = text[start.index : end.index]
    style = node.style or ""
    if style in ("", "'", '"') and start.line == end.line:
        inner = raw[1:-1] if style else raw
        if inner != node.value or not 0 <= offset <= len(inner):
            return None
        return Position(start.line + 1, start.column + 1 + (1 if style else 0) + offset)
    if style in ("|", ">"):
        return _position_in_block(node, text, offset)
    return None


def _position_in_block(node: yaml.ScalarNode, text: str, offset: int) -> Position | None:
    lines = text.split("\n")
    first = node.start_mark.line + 1  # the content starts below the indicator
    # The block ends where the next token starts: at the start of a line, or on its last line.
    last = node.end_mark.line + (1 if node.end_mark.column > 0 else 0)
    content = lines[first:last]
    while content and not content[-1].strip():
        content.pop()
    if not content:
        return None
    indent = len(content[0]) - len(content[0].lstrip(" "))
    stripped = [line[indent:] for line in content]
    joiner = "\n" if node.style == "|" else " "
    if joiner.join(stripped).rstrip("\n") != node.value.rstrip("\n"):
        return None
    for number, line in enumerate(stripped):
        if offset <= len(line):
            return Position(first + number + 1, indent + offset + 1)
        offset -= len(line) + 1
    return None
