"""Markdown as GitHub shows it: headings, their anchors, and relative links that lead nowhere."""

from __future__ import annotations

import re
from pathlib import Path


def strip_blocks(text: str) -> str:
    """Text without fenced code blocks (whose "#" lines are not headings)."""
    return re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)


def strip_code(text: str) -> str:
    """Text without code blocks and inline code, where brackets are not links."""
    return re.sub(r"`[^`\n]*`", "``", strip_blocks(text))


def headings(text: str, levels: str = "1,") -> list[str]:
    """The text of every heading of ``levels``, a regex repeat: ``"2,4"`` is ## to ####."""
    return [h.strip() for h in re.findall(rf"^#{{{levels}}} (.+)$", strip_blocks(text), re.M)]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
    return text.replace(" ", "-")


def broken_links(path: Path) -> list[str]:
    """The relative links of the Markdown file ``path`` whose file or anchor does not exist."""
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", strip_code(path.read_text())):
        if re.match(r"[a-z]+:", target):
            continue  # https:, mailto: ...
        file_part, _, fragment = target.partition("#")
        file = (path.parent / file_part).resolve() if file_part else path
        if _leads_nowhere(file, fragment):
            broken.append(target)
    return broken


def _leads_nowhere(file: Path, fragment: str) -> bool:
    """The file is missing, or is Markdown without the heading the fragment names."""
    if not file.exists():
        return True
    return bool(fragment) and file.suffix == ".md" and fragment not in anchors(file.read_text())


def anchors(text: str) -> set[str]:
    """The anchors of a Markdown text's headings."""
    return {slug(h) for h in headings(text)}


def tables(text: str) -> list[list[list[str]]]:
    """Every table outside code blocks: its rows (the header first, the rule left out), each
    a list of cells with their surrounding spaces removed."""
    found: list[list[list[str]]] = []
    current: list[list[str]] = []
    for line in [*strip_blocks(text).splitlines(), ""]:
        if line.lstrip().startswith("|"):
            inner = line.strip().removeprefix("|").removesuffix("|")
            cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", inner)]
            if not all(re.fullmatch(r":?-{3,}:?", cell) for cell in cells):
                current.append(cells)
        elif current:
            found.append(current)
            current = []
    return found


def table_rows(text: str, first_header: str) -> list[dict[str, str]]:
    """The rows of every table whose first column is headed ``first_header``, as
    {header: cell}."""
    rows = []
    for table in tables(text):
        header, *body = table
        if header[0].lower() == first_header.lower():
            rows += [dict(zip(header, row, strict=False)) for row in body]
    return rows
