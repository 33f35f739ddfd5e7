"""How the models' fields are named on the wire."""

from __future__ import annotations

from pydantic.fields import FieldInfo


def field_name(name: str, info: FieldInfo) -> str:
    """The field's name on the wire (camelCase)."""
    return info.alias or name
