"""Durations given on a command line (``zen-flow``, ``kubectl jobflow``), as click reads them."""

from __future__ import annotations

from typing import Any

import click

from zen_flow.api.durations import parse_duration


class Duration(click.ParamType[float, Any]):
    """A Go-style duration (30s, 1m30s, 500ms) as seconds; with ``bare_seconds``, a plain
    number of seconds too; with ``positive``, never zero."""

    name = "duration"

    def __init__(self, *, bare_seconds: bool = False, positive: bool = False) -> None:
        self.bare_seconds = bare_seconds
        self.positive = positive

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        if isinstance(value, float):
            return value
        text = str(value).strip()
        bare = self.bare_seconds and text.replace(".", "", 1).isdigit()
        try:
            seconds = float(text) if bare else parse_duration(text)
        except ValueError as error:
            self.fail(str(error), param, ctx)
        if self.positive and seconds <= 0:
            self.fail(f"{text} is not a positive duration", param, ctx)
        return seconds
