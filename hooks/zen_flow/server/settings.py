"""Server settings, read from the environment once, at start-up."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


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
    return env.get(name, "").strip().lower() in ("1", "true", "yes", "on")


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
            bind=env.get("ZEN_FLOW_BIND", "").strip() or cls.bind,
            workers=_int(env, "ZEN_FLOW_WORKERS", cls.workers),
            worker_connections=_int(env, "ZEN_FLOW_WORKER_CONNECTIONS", cls.worker_connections),
            keepalive=_int(env, "ZEN_FLOW_KEEPALIVE", cls.keepalive),
            read_timeout=_int(env, "ZEN_FLOW_READ_TIMEOUT", cls.read_timeout),
            timeout=_int(env, "ZEN_FLOW_TIMEOUT", cls.timeout),
            graceful_timeout=_int(env, "ZEN_FLOW_GRACEFUL_TIMEOUT", cls.graceful_timeout),
            max_body_bytes=_int(env, "ZEN_FLOW_MAX_BODY_BYTES", cls.max_body_bytes),
            log_level=env.get("ZEN_FLOW_LOG_LEVEL", "").strip().lower() or cls.log_level,
            test_clock=_flag(env, "ZEN_FLOW_TEST_CLOCK"),
        )
