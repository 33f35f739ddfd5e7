"""What a CEL syntax error means, in one line: where it is, what was found and what was
expected, with the fix for the usual slips (``=`` for ``==``, ``and`` for ``&&``)."""

from __future__ import annotations

from collections.abc import Iterable

import lark

# The grammar's terminals as a reader knows them.
_SHOWN = {
    "__ANON_0": "||",
    "__ANON_1": "&&",
    "__ANON_2": "<=",
    "__ANON_3": ">=",
    "__ANON_4": "==",
    "__ANON_5": "!=",
    "LESSTHAN": "<",
    "MORETHAN": ">",
    "IN": "in",
    "PLUS": "+",
    "MINUS": "-",
    "STAR": "*",
    "SLASH": "/",
    "PERCENT": "%",
    "QMARK": "?",
    "COLON": ":",
    "BANG": "!",
    "DOT": ".",
    "COMMA": ",",
    "LPAR": "(",
    "RPAR": ")",
    "LSQB": "[",
    "RSQB": "]",
    "LBRACE": "{",
    "RBRACE": "}",
    "IDENT": "a name",
    "STRING_LIT": "a 'string'",
    "MLSTRING_LIT": "a 'string'",
    "BYTES_LIT": "bytes",
    "INT_LIT": "a number",
    "UINT_LIT": "a number",
    "FLOAT_LIT": "a number",
    "BOOL_LIT": "true or false",
    "NULL_LIT": "null",
}
# Terminals that start a value, and the operators that may follow one.
_VALUES = frozenset({"IDENT", "STRING_LIT", "INT_LIT", "BOOL_LIT"})
_OPERATORS = frozenset({"__ANON_0", "__ANON_1", "__ANON_4", "__ANON_5"})
EXPECTED_VALUE = "a value (e.g. steps.extract.phase, 'Succeeded', 3, true, or '(')"
EXPECTED_OPERATOR = "an operator (e.g. ==, !=, <, in, &&, ||) or the end of the condition"
_WORDS = {"and": "&&", "or": "||", "not": "!", "is": "==", "equals": "=="}


def position(
    text: str, error: BaseException | None, line: int | None, column: int | None
) -> tuple[int | None, int | None]:
    """Where the error is, from 1: lark places the end of the input at the last token, the
    reader expects it after the last character."""
    if _at_end(error):
        lines = text.split("\n")
        return len(lines), len(lines[-1]) + 1
    return line, column


def describe(text: str, error: BaseException | None, line: int | None, column: int | None) -> str:
    """One line for a syntax error of ``text``: ``column 15: found "=" where ... was
    expected (write == to compare)``. ``error`` is the parser's own exception, if known;
    ``line`` and ``column`` come from ``position``."""
    where = _where(text, line, column)
    if not isinstance(error, lark.exceptions.UnexpectedInput):
        return f"{where}: not valid CEL" if where else "not valid CEL"
    found = _found(error)
    expected = _expected(error)
    message = f"found {found}"
    if expected:
        message += f" where {expected} was expected"
    hint = _hint(error, expected)
    if hint:
        message += f" ({hint})"
    return f"{where}: {message}" if where else message


def _at_end(error: BaseException | None) -> bool:
    if isinstance(error, lark.exceptions.UnexpectedEOF):
        return True
    token = getattr(error, "token", None)
    return isinstance(error, lark.exceptions.UnexpectedToken) and (
        token is None or getattr(token, "type", "") == "$END"
    )


def _where(text: str, line: int | None, column: int | None) -> str:
    if column is None:
        return ""
    if "\n" in text.strip() and line is not None:
        return f"line {line}, column {column}"
    return f"column {column}"


def _found(error: lark.exceptions.UnexpectedInput) -> str:
    if isinstance(error, lark.exceptions.UnexpectedCharacters):
        char = error.char
        if char in "'\"":
            return "a string that is never closed"
        return f'"{char}"'
    token = getattr(error, "token", None)
    if token is None or getattr(token, "type", "") == "$END":
        return "the end of the condition"
    return f'"{token}"'


def _terminals(error: lark.exceptions.UnexpectedInput) -> set[str]:
    expected: Iterable[str] = (
        getattr(error, "allowed", None) or getattr(error, "expected", None) or ()
    )
    return {name for name in expected if name != "$END"}


def _expected(error: lark.exceptions.UnexpectedInput) -> str:
    names = _terminals(error)
    if not names:
        return "the end of the condition"
    if names & _VALUES:
        return EXPECTED_VALUE
    if names & _OPERATORS:
        return EXPECTED_OPERATOR
    shown = sorted({_SHOWN.get(name, name) for name in names})
    return " or ".join(f'"{item}"' if len(item) <= 2 else item for item in shown)


def _hint(error: lark.exceptions.UnexpectedInput, expected: str) -> str:
    if isinstance(error, lark.exceptions.UnexpectedCharacters):
        if error.char == "=":
            return "write == to compare"
        if error.char in "'\"":
            return "end a string with the quote that starts it"
        if error.char == "`":
            return "quote strings with ' or \""
        return ""
    word = str(getattr(error, "token", "")).lower()
    if word in _WORDS and expected in (EXPECTED_OPERATOR, "the end of the condition"):
        return f"CEL writes {_WORDS[word]} for {word}"
    return ""
