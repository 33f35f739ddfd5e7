"""The kubectl commands users copy: found in Markdown shell blocks and in the comments of
example YAML, split off pipes and ``$(...)``, and parsed into verb, arguments and flags.

``<name>`` and ``$VAR`` are placeholders for values the reader chooses: they become words
containing ``PLACEHOLDER``, which the checker takes for "anything".
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

PLACEHOLDER: Final = "PLACEHOLDER"
# Fenced blocks in these languages hold shell commands ("" is a block without a language).
SHELL_BLOCKS: Final = frozenset({"", "bash", "sh", "shell", "console", "zsh"})
# kubectl flags that take the next word as their value.
VALUE_FLAGS: Final = frozenset(
    {
        "-n", "--namespace", "-l", "--selector", "-o", "--output", "-p", "--patch", "--type",
        "-c", "--container", "-f", "--filename", "-k", "--kustomize", "--for", "--timeout",
        "-L", "--label-columns", "--field-selector", "--since", "--tail", "--sort-by", "--from",
        "--to-revision", "--subresource", "--context", "--replicas", "--image", "--as",
        "--field-manager", "--revision", "--since-time", "--grace-period", "--cascade",
        "--overrides", "--restart", "--max-log-requests", "--dry-run", "--show-kind",
    }
)  # fmt: skip
_OPERATORS: Final = ";&|()<>"


class CommandSyntaxError(ValueError):
    """A shell line that cannot be split into words (an unclosed quote, say)."""


@dataclass
class Command:
    """One kubectl invocation: ``kubectl VERB ARGS... FLAGS...``."""

    where: str  # file:line
    text: str  # the whole shell line it is part of
    args: list[str]  # the verb first
    flags: dict[str, list[str]]  # every value of every flag that takes one
    bool_flags: set[str]

    def values(self, *names: str) -> list[str]:
        """The values given to any of the flags ``names`` (e.g. ``-n`` and ``--namespace``)."""
        return [value for name in names for value in self.flags.get(name, [])]


def is_placeholder(text: str) -> bool:
    return PLACEHOLDER in text


def mark_placeholders(line: str) -> str:
    """``<name>`` and ``$VAR`` as placeholder words; file-descriptor redirections dropped."""
    line = re.sub(
        r"<([A-Za-z][A-Za-z0-9 _./:-]*)>", lambda m: PLACEHOLDER + re.sub(r"\W", "_", m[1]), line
    )
    line = re.sub(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", PLACEHOLDER + r"\1", line)
    line = re.sub(r"\s\d?>&\d", " ", line)
    return re.sub(r"\s\d>\s*\S+", " ", line)


def shell_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, command line) of shell code: Markdown blocks or example comments."""
    lines = path.read_text().splitlines()
    if path.suffix == ".yaml":
        for number, line in enumerate(lines, 1):
            match = re.match(r"\s*#\s+(kubectl .*)$", line)
            if match:
                yield number, match[1]
        return
    in_block, language, pending, start = False, "", "", 0
    for number, line in enumerate(lines, 1):
        fence = re.match(r"\s*```\s*(\S*)", line)
        if fence:
            in_block, language = (not in_block), fence[1].lower()
            continue
        if not in_block or language not in SHELL_BLOCKS:
            continue
        stripped = re.sub(r"^\s*\$ ", "", line)
        if not pending:
            start = number
        if stripped.rstrip().endswith("\\"):
            pending += stripped.rstrip()[:-1] + " "
            continue
        yield start, pending + stripped
        pending = ""


def kubectl_commands(path: Path) -> Iterator[Command]:
    """Every kubectl command in the shell code of ``path``, one per pipeline stage."""
    for number, line in shell_lines(path):
        if "kubectl" not in line:
            continue  # other shell code need not even parse
        where = f"{path.name}:{number}"
        words: list[str] = []
        skip_next = False
        for token in [*_tokens(where, line), ";"]:
            if skip_next:
                skip_next = False
                continue
            if token in (">", ">>"):
                skip_next = True  # the file written to
                continue
            if set(token) <= set(_OPERATORS):
                if words and words[0].endswith("kubectl"):
                    yield parse_command(where, line, words[1:])
                words = []
                continue
            words.append(token)


def _tokens(where: str, line: str) -> list[str]:
    """The line's words and operators; a ``#`` comment ends it."""
    lexer = shlex.shlex(mark_placeholders(line), posix=True, punctuation_chars=_OPERATORS)
    lexer.whitespace_split = True
    try:
        return list(lexer)
    except ValueError as error:
        raise CommandSyntaxError(f"{where}: cannot parse {line!r}: {error}") from error


def parse_command(where: str, text: str, words: list[str]) -> Command:
    """The words after ``kubectl``, sorted into arguments, flags with values and bare flags."""
    args: list[str] = []
    flags: dict[str, list[str]] = {}
    bools: set[str] = set()
    index = 0
    while index < len(words):
        word = words[index]
        if word == "--":
            break  # what follows is the command run in a container
        if word.startswith("--") and "=" in word:
            name, _, value = word.partition("=")
            flags.setdefault(name, []).append(value)
        elif word in VALUE_FLAGS and index + 1 < len(words):
            flags.setdefault(word, []).append(words[index + 1])
            index += 1
        elif re.match(r"-[nlocpfkL].+", word) and not word.startswith("--"):
            flags.setdefault(word[:2], []).append(word[2:].lstrip("="))
        elif word.startswith("-") and word != "-":
            bools.add(word)
        else:
            args.append(word)
        index += 1
    return Command(where, text, args, flags, bools)
