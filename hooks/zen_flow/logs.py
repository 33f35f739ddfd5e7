"""JSON logs, one object per line, with the flow's namespace/name when a request has one."""

from __future__ import annotations

import logging
import sys

from pythonjsonlogger.json import JsonFormatter

LOGGER = "zen_flow"


def configure(level: str) -> logging.Logger:
    """The project's logger, writing JSON lines to stderr (idempotent)."""
    logger = logging.getLogger(LOGGER)
    logger.setLevel(level.upper())
    if not any(getattr(h, "_zen_flow", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(
            JsonFormatter(
                "{asctime}{levelname}{name}{message}",
                style="{",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
        handler._zen_flow = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
        logger.propagate = False
    return logger
