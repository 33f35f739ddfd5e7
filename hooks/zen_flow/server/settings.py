"""Server settings, read from the environment once, at start-up.

Every value is checked here: a bad one is a ``ValueError`` whose message names the variable,
the value and what it accepts, which gunicorn prints as one line before it stops.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields

PREFIX = "ZEN_FLOW_"
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("", "0", "false", "no", "off")
_HOST_PORT = re.compile(r"(?P<host>\[[0-9a-fA-F:.]+\]|[^:\[\]]*):(?P<port>[^:]*)")


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{name}={text!r} is not an integer") from None
    if value < 1:
        raise ValueError(f"{name}={text!r} must be at least 1")
    return value


def _flag(env: Mapping[str, str], name: str) -> bool:
    text = env.get(name, "").strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"{name}={text!r}: use 1 (on) or 0 (off)")


def _log_level(env: Mapping[str, str], name: str, default: str) -> str:
    text = env.get(name, "").strip().lower() or default
    if text not in LOG_LEVELS:
        raise ValueError(f"{name}={text!r}: use {', '.join(LOG_LEVELS[:-1])} or {LOG_LEVELS[-1]}")
    return text


def _bind(env: Mapping[str, str], name: str, default: str) -> str:
    text = env.get(name, "").strip() or default
    if text.startswith("unix:") and len(text) > len("unix:"):
        return text
    match = _HOST_PORT.fullmatch(text)
    port = match.group("port") if match else ""
    if not (port.isdigit() and int(port) < 65536):
        raise ValueError(
            f"{name}={text!r}: use HOST:PORT with a port up to 65535, e.g. 127.0.0.1:8080"
        )
    return text


@dataclass(frozen=True)
class Settings:
    """Everything configurable about the hook server (see the README for each variable)."""

    bind: str = "127.0.0.1:8080"
    workers: int = 2
    # Each worker serves connections as greenlets (gevent), so a slow client holds one
    # greenlet, not a worker; at most this many at once per worker.
    worker_connections: int = 100
    # Seconds a connection may take to send a request's headers (and idle between requests).
    keepalive: int = 5
    # Seconds a request may take to send its body: Metacontroller gives up after 10 anyway.
    read_timeout: int = 10
    timeout: int = 30
    graceful_timeout: int = 20
    max_body_bytes: int = 64 * 1024 * 1024
    log_level: str = "info"
    test_clock: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            bind=_bind(env, "ZEN_FLOW_BIND", cls.bind),
            workers=_int(env, "ZEN_FLOW_WORKERS", cls.workers),
            worker_connections=_int(env, "ZEN_FLOW_WORKER_CONNECTIONS", cls.worker_connections),
            keepalive=_int(env, "ZEN_FLOW_KEEPALIVE", cls.keepalive),
            read_timeout=_int(env, "ZEN_FLOW_READ_TIMEOUT", cls.read_timeout),
            timeout=_int(env, "ZEN_FLOW_TIMEOUT", cls.timeout),
            graceful_timeout=_int(env, "ZEN_FLOW_GRACEFUL_TIMEOUT", cls.graceful_timeout),
            max_body_bytes=_int(env, "ZEN_FLOW_MAX_BODY_BYTES", cls.max_body_bytes),
            log_level=_log_level(env, "ZEN_FLOW_LOG_LEVEL", cls.log_level),
            test_clock=_flag(env, "ZEN_FLOW_TEST_CLOCK"),
        )


def variable_names() -> list[str]:
    """The environment variable of every setting."""
    return [PREFIX + field.name.upper() for field in fields(Settings)]


def unknown_variables(env: Mapping[str, str] | None = None) -> list[str]:
    """A line for each ``ZEN_FLOW_*`` variable that is no setting (a typo would otherwise be
    silently ignored), with the setting it may have meant. Kubernetes' service links of the
    Service ``zen-flow-hooks`` (``ZEN_FLOW_HOOKS_*``) are not settings and are left out."""
    env = os.environ if env is None else env
    known = variable_names()
    found = []
    for name in sorted(env):
        if not name.startswith(PREFIX) or name in known or name.startswith("ZEN_FLOW_HOOKS_"):
            continue
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        found.append(f"{name} is not a setting and is ignored{hint}")
    return found
