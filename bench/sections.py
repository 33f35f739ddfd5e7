"""Sections of docs/BENCHMARKS.md that other writers own.

`make bench` (bench/run.py) writes the whole file from its own measurements; `make bench-e2e`
(e2e/bench.py) writes one section between marker comments. Each keeps what the other wrote.
"""

from __future__ import annotations

import re

E2E = "e2e"


def begin(name: str) -> str:
    return f"<!-- {name}:begin (written by make bench-{name}; make bench keeps it) -->"


def end(name: str) -> str:
    return f"<!-- {name}:end -->"


def _pattern(name: str) -> re.Pattern[str]:
    return re.compile(re.escape(begin(name)) + r".*?" + re.escape(end(name)) + r"\n?", re.S)


def extract(text: str, name: str) -> str | None:
    """The marked section of ``name`` in ``text``, markers included, or None."""
    found = _pattern(name).search(text)
    return found.group(0).rstrip("\n") + "\n" if found else None


def replace(text: str, name: str, body: str) -> str:
    """``text`` with the section of ``name`` set to ``body`` (appended when absent)."""
    section = f"{begin(name)}\n{body.strip()}\n{end(name)}\n"
    if _pattern(name).search(text):
        return _pattern(name).sub(lambda _: section, text, count=1)
    return text.rstrip("\n") + "\n\n" + section


def keep(old: str, new: str, names: tuple[str, ...] = (E2E,)) -> str:
    """``new`` (a freshly written report) with the marked sections of ``old`` carried over."""
    for name in names:
        section = extract(old, name)
        if section is not None and extract(new, name) is None:
            inner = section.split("\n", 1)[1].rsplit(end(name), 1)[0]
            new = replace(new, name, inner)
    return new
