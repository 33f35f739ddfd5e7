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
