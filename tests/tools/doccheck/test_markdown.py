"""Headings, anchors and relative links of Markdown files."""

from __future__ import annotations

from pathlib import Path

from zen_flow.tools.doccheck.markdown import broken_links, headings, slug, strip_code, table_rows

TEXT = """# Title

## Install `zen-flow`

```bash
# not a heading
kubectl apply -k deploy
```

### What's new? (v2)

#### Deep
"""


def test_headings_skip_code_blocks() -> None:
    assert headings(TEXT) == ["Title", "Install `zen-flow`", "What's new? (v2)", "Deep"]


def test_headings_of_some_levels() -> None:
    assert headings(TEXT, "2,3") == ["Install `zen-flow`", "What's new? (v2)"]


def test_slug_is_githubs_anchor() -> None:
    assert slug("Install `zen-flow`") == "install-zen-flow"
    assert slug("What's new? (v2)") == "whats-new-v2"
    assert slug("  Roll back the CRD ") == "roll-back-the-crd"


def test_inline_code_and_blocks_hold_no_links() -> None:
    assert "](" not in strip_code("`[a](b)`\n```\n[c](d)\n```\n")


def test_broken_links_are_missing_files_and_missing_headings(tmp_path: Path) -> None:
    (tmp_path / "OTHER.md").write_text("# Other\n\n## A section\n")
    (tmp_path / "script.sh").write_text("")
    doc = tmp_path / "DOC.md"
    doc.write_text(
        "# Doc\n\n## Here\n\n"
        "[ok](OTHER.md) [ok](OTHER.md#a-section) [ok](#here) [ok](script.sh#L3)\n"
        "[ok](https://example.org/x) [ok](mailto:a@b.c) `[not a link](nowhere.md)`\n"
        "[bad](MISSING.md) [bad](OTHER.md#no-section) [bad](#nowhere)\n"
    )
    assert broken_links(doc) == ["MISSING.md", "OTHER.md#no-section", "#nowhere"]


def test_links_are_relative_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "README.md").write_text("")
    doc = tmp_path / "docs" / "DOC.md"
    doc.write_text("[up](../README.md) [here](README.md)\n")
    assert broken_links(doc) == ["README.md"]


def test_tables_are_read_row_by_row_with_escaped_pipes_kept() -> None:
    text = (
        "| variable | default |\n| --- | --- |\n| `A` | `1` |\n| `B` | `x \\| y` |\n\n"
        "```\n| not | a table |\n```\n"
    )
    assert table_rows(text, "variable") == [
        {"variable": "`A`", "default": "`1`"},
        {"variable": "`B`", "default": "`x \\| y`"},
    ]
