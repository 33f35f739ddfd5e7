"""Offline checks of JobFlow YAML files, with the same models and rules as the hooks.

A file may hold several YAML documents (and ``kind: List`` documents, as ``kubectl get -o
yaml`` prints them). Documents that are not JobFlows are left alone, unless they claim the
``workflow.zen.io`` API group: a typo in ``kind`` should not pass as "nothing to check".

Every problem is reported as ``file:line:column: field.path: message``, at the node the
problem is about, so that editors and CI annotations can point at it. Lint also finds what
only the file shows: a key written twice in a mapping (only the last one is kept), and the
names of children that could not exist given the flow's name.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import msgspec
import yaml

from zen_flow.api.group import API_VERSION, GROUP, KIND
from zen_flow.api.spec import JobFlowSpec
from zen_flow.engine.size import size_problems
from zen_flow.spec.names import MAX_GENERATE_NAME, generated_length, name_problems
from zen_flow.spec.validation import InvalidSpecError, Problem, parse_spec
from zen_flow.spec.when import WhenError, compile_when
from zen_flow.tools.yamlsource import (
    Position,
    compose_all,
    duplicate_keys,
    locate,
    position_in_scalar,
)

DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
NAME_RULE = (
    "lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, "
    "at most 253 characters"
)
UNKNOWN_FIELD = "unknown field"


@dataclass(frozen=True)
class LintProblem:
    """One problem in a file: where (line and column, field path) and what."""

    file: str
    message: str
    path: str = ""
    line: int | None = None
    column: int | None = None
    document: int | None = None

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}:{self.column or 1}"
        return ": ".join(part for part in (where, self.path, self.message) if part)

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "document": self.document,
            "path": self.path,
            "message": self.message,
        }


@dataclass(frozen=True)
class Document:
    """One object of a YAML stream and its node; ``prefix`` locates it inside a
    ``kind: List``."""

    file: str
    index: int
    body: Any
    node: yaml.Node | None = None
    prefix: str = ""
    text: str = ""

    @property
    def position(self) -> Position | None:
        return Position.of(self.node.start_mark) if self.node is not None else None

    def problem(self, path: str, message: str, offset: int | None = None) -> LintProblem:
        """A problem at ``path`` (a field path inside this object); ``offset`` is a
        character of the value the problem is about, when known."""
        place = self._place(path, message, offset)
        return LintProblem(
            self.file,
            message,
            self.prefix + path,
            place.line if place else None,
            place.column if place else None,
            self.index,
        )

    def _place(self, path: str, message: str, offset: int | None) -> Position | None:
        if self.node is None:
            return None
        located = locate(self.node, path)
        if offset is not None and located.complete:
            inside = position_in_scalar(located.node, self.text, offset)
            if inside is not None:
                return inside
        collection = isinstance(located.node, yaml.MappingNode | yaml.SequenceNode)
        point_at_key = (
            not located.complete or collection or message.startswith(UNKNOWN_FIELD)
        ) and located.key is not None
        target = located.key if point_at_key and located.key is not None else located.node
        return Position.of(target.start_mark)


@dataclass
class FileReport:
    """What ``lint_text`` found in one file."""

    file: str
    problems: list[LintProblem] = field(default_factory=list)
    flows: list[Document] = field(default_factory=list)


class LintError(Exception):
    """A file cannot be used as asked; ``problems`` say why, one per line."""

    def __init__(self, problems: list[LintProblem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


def read_documents(file: str, text: str) -> tuple[list[Document], list[LintProblem]]:
    """The objects of a YAML stream; a syntax error is one problem at its line."""
    documents: list[Document] = []
    try:
        for index, source in enumerate(compose_all(text), start=1):
            documents.extend(_expand(Document(file, index, source.body, source.node, "", text)))
    except yaml.YAMLError as error:
        return documents, [_syntax_problem(file, text, error)]
    return documents, []


def is_jobflow(body: Any) -> bool:
    """Whether a document is meant as a JobFlow: its kind says so, or its API group."""
    if not isinstance(body, dict):
        return False
    api_version = body.get("apiVersion")
    claims_group = isinstance(api_version, str) and api_version.split("/")[0] == GROUP
    return body.get("kind") == KIND or claims_group


def lint_text(file: str, text: str) -> FileReport:
    """Every problem of every JobFlow in a file; other objects are ignored."""
    report = FileReport(file)
    documents, problems = read_documents(file, text)
    report.problems.extend(problems)
    for document in documents:
        if not is_jobflow(document.body):
            continue
        report.flows.append(document)
        report.problems.extend(lint_document(document))
    report.problems.sort(key=_order)
    return report


def _order(problem: LintProblem) -> tuple[int, int]:
    return (problem.line or 0, problem.column or 0)


def lint_document(document: Document) -> list[LintProblem]:
    """The problems of one JobFlow document: repeated keys, apiVersion, kind, metadata, the
    spec, and the names its children would have."""
    body: dict[str, Any] = document.body
    problems = [*_duplicate_problems(document), *_header_problems(document)]
    if "spec" not in body or body["spec"] is None:
        problems.append(document.problem("spec", "required field is missing"))
        return problems
    try:
        spec = parse_spec(body["spec"])
    except InvalidSpecError as error:
        problems.extend(_spec_problem(document, p) for p in error.problems)
        return problems
    name, length = flow_name(body)
    if name:
        problems.extend(_spec_problem(document, p) for p in name_problems(name, spec, length))
    # The spec as the API server stores it (compact JSON), with the annotations written here.
    stored = len(msgspec.json.encode(body["spec"]))
    metadata = body.get("metadata")
    annotations = metadata.get("annotations") if isinstance(metadata, dict) else None
    notes = (
        {str(k): str(v) for k, v in annotations.items()} if isinstance(annotations, dict) else {}
    )
    problems.extend(_spec_problem(document, p) for p in size_problems(spec, stored, notes))
    return problems


def flow_name(body: dict[str, Any]) -> tuple[str, int | None]:
    """The flow's name, or its ``generateName`` and the length of the names made from it."""
    metadata = body.get("metadata")
    if not isinstance(metadata, dict):
        return "", None
    name, prefix = metadata.get("name"), metadata.get("generateName")
    if isinstance(name, str) and name:
        return name, None
    if isinstance(prefix, str) and prefix:
        return prefix, generated_length(prefix)
    return "", None


def single_flow(file: str, text: str) -> tuple[Document, JobFlowSpec]:
    """The one valid JobFlow of a file and its spec; ``LintError`` when there is not one."""
    report = lint_text(file, text)
    if report.problems:
        raise LintError(report.problems)
    if len(report.flows) != 1:
        found = "no JobFlow" if not report.flows else f"{len(report.flows)} JobFlows"
        lines = [str(d.position.line) for d in report.flows if d.position is not None]
        at = ", ".join(lines[:-1]) + " and " + lines[-1] if len(lines) > 1 else "".join(lines)
        detail = (
            f" (at lines {at}); put the one to use in a file of its own" if report.flows else ""
        )
        raise LintError([LintProblem(file, f"{found} in the file{detail}")])
    flow = report.flows[0]
    return flow, parse_spec(flow.body["spec"])


def _spec_problem(document: Document, problem: Problem) -> LintProblem:
    return document.problem(
        problem.path, problem.message, _when_offset(document.body, problem.path)
    )


def _when_offset(body: dict[str, Any], path: str) -> int | None:
    """The character of a ``when`` that its problem is about, when the expression says."""
    if not path.endswith(".when"):
        return None
    match = re.fullmatch(r"spec\.(steps|finally)\[(\d+)\]\.when", path)
    if match is None:
        return None
    steps = (body.get("spec") or {}).get(match.group(1))
    if not isinstance(steps, list) or int(match.group(2)) >= len(steps):
        return None
    source = steps[int(match.group(2))].get("when")
    if not isinstance(source, str):
        return None
    try:
        compile_when(source)
    except WhenError as error:
        if error.column is None:
            return None
        text = source.strip()
        lines = text.split("\n")
        line = min(error.line or 1, len(lines))
        inside = sum(len(previous) + 1 for previous in lines[: line - 1]) + error.column - 1
        return len(source) - len(source.lstrip()) + inside
    return None


def _duplicate_problems(document: Document) -> Iterator[LintProblem]:
    if document.node is None:
        return
    for duplicate in duplicate_keys(document.node):
        yield LintProblem(
            document.file,
            f'key "{duplicate.key}" given twice (first at line {duplicate.first.line}): '
            "only the last one would be used",
            document.prefix + duplicate.path,
            duplicate.position.line,
            duplicate.position.column,
            document.index,
        )


def _expand(document: Document) -> Iterator[Document]:
    """A ``kind: List`` is its items (``kubectl get jobflows -o yaml`` prints one)."""
    body = document.body
    if (
        isinstance(body, dict)
        and body.get("kind") == "List"
        and isinstance(body.get("items"), list)
    ):
        items = locate(document.node, "items").node if document.node is not None else None
        for position, item in enumerate(body["items"]):
            node = (
                items.value[position]
                if isinstance(items, yaml.SequenceNode) and position < len(items.value)
                else None
            )
            prefix = f"{document.prefix}items[{position}]."
            yield Document(document.file, document.index, item, node, prefix, document.text)
    else:
        yield document


def _header_problems(document: Document) -> Iterator[LintProblem]:
    body: dict[str, Any] = document.body
    api_version = body.get("apiVersion")
    if api_version is None:
        yield document.problem("apiVersion", f"required field is missing (use {API_VERSION})")
    elif api_version != API_VERSION:
        yield document.problem(
            "apiVersion", f"unknown API version {api_version!r} (expected {API_VERSION})"
        )
    kind = body.get("kind")
    if kind is None:
        yield document.problem("kind", f"required field is missing (use {KIND})")
    elif kind != KIND:
        yield document.problem("kind", f"unknown kind {kind!r} in {GROUP} (expected {KIND})")
    metadata = body.get("metadata")
    if not isinstance(metadata, dict):
        yield document.problem("metadata.name", "required field is missing")
        return
    yield from _name_problems(document, metadata)
    namespace = metadata.get("namespace")
    if namespace is not None and (
        not isinstance(namespace, str) or len(namespace) > 63 or not DNS1123_LABEL.match(namespace)
    ):
        yield document.problem("metadata.namespace", f"{namespace!r} is not a valid namespace")


def _name_problems(document: Document, metadata: dict[str, Any]) -> Iterator[LintProblem]:
    name, prefix = metadata.get("name"), metadata.get("generateName")
    if name is None:
        if prefix is None:
            yield document.problem(
                "metadata.name", "required field is missing (or metadata.generateName)"
            )
        elif not isinstance(prefix, str) or not DNS1123_SUBDOMAIN.match(
            prefix[:MAX_GENERATE_NAME] + "x0x0x"
        ):
            yield document.problem(
                "metadata.generateName",
                f"{prefix!r} cannot start a valid name: {NAME_RULE}",
            )
    elif not isinstance(name, str) or len(name) > 253 or not DNS1123_SUBDOMAIN.match(name):
        yield document.problem("metadata.name", f"{name!r} is not a valid name: {NAME_RULE}")


def _syntax_problem(file: str, text: str, error: yaml.YAMLError) -> LintProblem:
    message = str(error).splitlines()[0] if str(error) else "invalid YAML"
    if not isinstance(error, yaml.MarkedYAMLError):
        return LintProblem(file, f"YAML syntax error: {message}")
    message = " ".join(part for part in (error.context, error.problem) if part) or message
    mark = error.problem_mark or error.context_mark
    unclosed = "quoted scalar" in (error.context or "") and error.context_mark is not None
    if unclosed:
        mark = error.context_mark  # where the string starts: it is never closed
    hint = _syntax_hint(error, text, unclosed)
    if mark is None:
        return LintProblem(file, f"YAML syntax error: {message}{hint}")
    return LintProblem(
        file, f"YAML syntax error: {message}{hint}", line=mark.line + 1, column=mark.column + 1
    )


def _syntax_hint(error: yaml.MarkedYAMLError, text: str, unclosed: bool) -> str:
    """What usually causes the error libyaml reports, as a reader fixes it."""
    problem = error.problem or ""
    mark = error.problem_mark
    character = text[mark.index] if mark is not None and mark.index < len(text) else ""
    if character == "\t":
        return " (a tab: YAML indents with spaces only)"
    if unclosed:
        return " (a quoted string that is never closed)"
    if "mapping values are not allowed" in problem:
        return ' (quote a value that contains ": ")'
    if "did not find expected key" in problem or "expected '-' indicator" in problem:
        return " (check this line's indentation)"
    return ""
