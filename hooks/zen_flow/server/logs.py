"""JSON logs, one object per line, with the flow's namespace/name when a request has one.

The app's logger and gunicorn's own (start-up, workers, errors) write the same JSON lines:
``time``, ``level``, ``logger``, ``message``, and the fields a line adds.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from pythonjsonlogger.json import JsonFormatter

LOGGER = "zen_flow"


def json_formatter() -> logging.Formatter:
    """The formatter of every log line of the hook server."""
    return JsonFormatter(
        "{levelname}{name}{message}",
        style="{",
        rename_fields={"levelname": "level", "name": "logger"},
        timestamp="time",  # ISO 8601, UTC
    )


def configure(level: str) -> logging.Logger:
    """The project's logger, writing JSON lines to the current stderr.

    Calling it again replaces its handler rather than adding one, so each app logs once.
    """
    logger = logging.getLogger(LOGGER)
    logger.setLevel(level.upper())
    for old in [h for h in logger.handlers if getattr(h, "_zen_flow", False)]:
        logger.removeHandler(old)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(json_formatter())
    handler._zen_flow = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.propagate = False
    return logger


def gunicorn_logconfig(level: str) -> dict[str, Any]:
    """gunicorn's ``logconfig_dict``: its error log (start-up, workers, failures) as JSON lines
    on stderr, like the app's. The access log stays off: every call is logged by the app."""
    handler = {
        "class": "logging.StreamHandler",
        "formatter": "json",
        "stream": "ext://sys.stderr",
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": f"{__name__}.json_formatter"}},
        "handlers": {"json_stderr": handler},
        "root": {"level": "WARNING", "handlers": ["json_stderr"]},
        "loggers": {
            "gunicorn.error": {
                "level": level.upper(),
                "handlers": ["json_stderr"],
                "propagate": False,
            },
            "gunicorn.access": {"level": "INFO", "handlers": [], "propagate": False},
        },
    }
