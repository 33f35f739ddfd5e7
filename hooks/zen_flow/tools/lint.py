"""Offline checks of JobFlow YAML files, with the same models and rules as the hooks.

A file may hold several YAML documents (and ``kind: List`` documents, as ``kubectl get -o
yaml`` prints them). Documents that are not JobFlows are left alone, unless they claim the
``workflow.zen.io`` API group: a typo in ``kind`` should not pass as "nothing to check".
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

from zen_flow.api.group import API_VERSION, GROUP, KIND
from zen_flow.api.spec import JobFlowSpec
from zen_flow.spec.validation import InvalidSpecError, parse_spec

# The C loader when PyYAML was built with libyaml: flows of thousands of steps load fast.
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@dataclass(frozen=True)
class LintProblem:
    """One problem in a file: where (document, field path or line) and what."""

    file: str
    document: int | None
    path: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        if self.document is None:
            where = f"{self.file}:{self.line}" if self.line is not None else self.file
            return f"{where}: {self.message}"
        return f"{self.file}:{self.document}: {self.path}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "file": self.file,
            "document": self.document,
            "path": self.path,
            "message": self.message,
        }
        if self.line is not None:
            entry["line"] = self.line
        return entry


@dataclass(frozen=True)
class Document:
    """One object of a YAML stream; ``prefix`` locates it inside a ``kind: List``."""

    file: str
    index: int
    body: Any
    prefix: str = ""

    def problem(self, path: str, message: str) -> LintProblem:
        return LintProblem(self.file, self.index, self.prefix + path, message)


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
    """The objects of a YAML stream; a syntax error is one problem naming its line."""
    documents: list[Document] = []
    try:
        for index, body in enumerate(yaml.load_all(text, Loader=_Loader), start=1):
            documents.extend(_expand(Document(file, index, body)))
    except yaml.YAMLError as error:
        return documents, [_syntax_problem(file, error)]
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
    return report


def lint_document(document: Document) -> list[LintProblem]:
    """The problems of one JobFlow document: apiVersion, kind, metadata and spec."""
    body: dict[str, Any] = document.body
    problems = list(_header_problems(document))
    if "spec" not in body or body["spec"] is None:
        problems.append(document.problem("spec", "required field is missing"))
        return problems
    try:
        parse_spec(body["spec"])
    except InvalidSpecError as error:
        problems.extend(document.problem(p.path, p.message) for p in error.problems)
    return problems


def single_flow(file: str, text: str) -> tuple[Document, JobFlowSpec]:
    """The one valid JobFlow of a file and its spec; ``LintError`` when there is not one."""
    report = lint_text(file, text)
    if report.problems:
        raise LintError(report.problems)
    if len(report.flows) != 1:
        found = "no JobFlow" if not report.flows else f"{len(report.flows)} JobFlows"
        where = ", ".join(f"document {d.index}" for d in report.flows)
        detail = f" ({where}); put the one to use in a file of its own" if report.flows else ""
        raise LintError([LintProblem(file, None, "", f"{found} in the file{detail}")])
    flow = report.flows[0]
    return flow, parse_spec(flow.body["spec"])


def _expand(document: Document) -> Iterator[Document]:
    """A ``kind: List`` is its items (``kubectl get jobflows -o yaml`` prints one)."""
    body = document.body
    if (
        isinstance(body, dict)
        and body.get("kind") == "List"
        and isinstance(body.get("items"), list)
    ):
        for position, item in enumerate(body["items"]):
            prefix = f"{document.prefix}items[{position}]."
            yield Document(document.file, document.index, item, prefix)
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
    name = metadata.get("name")
    if name is None:
        if not metadata.get("generateName"):
            yield document.problem("metadata.name", "required field is missing")
    elif not isinstance(name, str) or len(name) > 253 or not DNS1123_SUBDOMAIN.match(name):
        yield document.problem(
            "metadata.name",
            f"{name!r} is not a valid name: lowercase letters, digits, '-' and '.', "
            "starting and ending with a letter or digit, at most 253 characters",
        )
    namespace = metadata.get("namespace")
    if namespace is not None and (
        not isinstance(namespace, str) or len(namespace) > 63 or not DNS1123_LABEL.match(namespace)
    ):
        yield document.problem("metadata.namespace", f"{namespace!r} is not a valid namespace")


def _syntax_problem(file: str, error: yaml.YAMLError) -> LintProblem:
    line: int | None = None
    message = str(error).splitlines()[0] if str(error) else "invalid YAML"
    if isinstance(error, yaml.MarkedYAMLError):
        mark = error.problem_mark or error.context_mark
        if mark is not None:
            line = mark.line + 1
        message = " ".join(part for part in (error.context, error.problem) if part) or message
    return LintProblem(file, None, "", f"YAML syntax error: {message}", line=line)
