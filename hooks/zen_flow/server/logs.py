"""JSON logs, one object per line, with the flow's namespace/name when a request has one."""

from __future__ import annotations

import logging
import sys

from pythonjsonlogger.json import JsonFormatter

LOGGER = "zen_flow"


def configure(level: str) -> logging.Logger:
    """The project's logger, writing JSON lines to the current stderr.

    Calling it again replaces its handler rather than adding one, so each app logs once.
    """
    logger = logging.getLogger(LOGGER)
    logger.setLevel(level.upper())
    for old in [h for h in logger.handlers if getattr(h, "_zen_flow", False)]:
        logger.removeHandler(old)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter(
            "{levelname}{name}{message}",
            style="{",
            rename_fields={"levelname": "level", "name": "logger"},
            timestamp="time",  # ISO 8601, UTC
        )
    )
    handler._zen_flow = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.propagate = False
    return logger
