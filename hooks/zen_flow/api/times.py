"""RFC 3339 timestamps as Kubernetes writes them: UTC, whole seconds, ``Z``."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    """Parse an RFC 3339 time; ``ValueError`` when it is not one."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def parse_time_or(text: str | None, default: datetime) -> datetime:
    """``text`` parsed, or ``default`` when it is absent or unreadable."""
    if not text:
        return default
    try:
        return parse_time(text)
    except ValueError:
        return default


def ceil_seconds(moment: datetime) -> datetime:
    """Round up to a whole second, so a due time written to status is never early."""
    whole = moment.replace(microsecond=0)
    return whole if whole == moment else whole + timedelta(seconds=1)


def seconds_until(later: datetime, now: datetime) -> float:
    """Positive seconds from ``now`` to ``later``, rounded up to milliseconds."""
    return max(math.ceil((later - now).total_seconds() * 1000) / 1000, 0.001)
