"""The API reference shows defaults as a user writes them, never as Python prints them."""

from __future__ import annotations

from pydantic import BaseModel, Field

from zen_flow.api.spec import ApiModel, Backoff, BackoffType
from zen_flow.gen.apidoc import default_text


class Policy(ApiModel):
    backoff: Backoff = Field(default=Backoff())
    slow: Backoff = Field(default=Backoff(type=BackoffType.FIXED, duration="30s"))
    kind: BackoffType = Field(default=BackoffType.LINEAR)


def default_of(model: type[BaseModel], name: str) -> str:
    return default_text(model.model_fields[name])


def test_an_object_default_is_shown_as_an_object_of_its_own_defaults() -> None:
    assert default_of(Policy, "backoff") == "`{}` (all defaults)"


def test_an_object_default_with_settings_of_its_own_lists_them() -> None:
    assert default_of(Policy, "slow") == 'type: `"Fixed"`, duration: `"30s"`'


def test_an_enum_default_is_its_value() -> None:
    assert default_of(Policy, "kind") == '`"Linear"`'
