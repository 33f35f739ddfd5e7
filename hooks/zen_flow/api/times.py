"""RFC 3339 timestamps as Kubernetes writes them: UTC, whole seconds, ``Z``.

Times come from status, which a user may have written, so arithmetic on them never
overflows: ``later`` stops at the last second a date can hold.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

LAST = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)


def format_time(moment: datetime) -> str:
    """``2026-03-01T12:00:00Z``; the year always has four digits."""
    utc = moment.astimezone(UTC)
    return (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}"
        f"T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}Z"
    )


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
    except (ValueError, OverflowError):
        return default


def later(moment: datetime, seconds: float) -> datetime:
    """``moment`` plus ``seconds``, or the last representable time if that is beyond it."""
    if seconds >= (LAST - moment).total_seconds():
        return LAST
    return moment + timedelta(seconds=seconds)


def ceil_seconds(moment: datetime) -> datetime:
    """Round up to a whole second, so a due time written to status is never early."""
    whole = moment.replace(microsecond=0)
    return whole if whole in (moment, LAST) else whole + timedelta(seconds=1)


def seconds_until(moment: datetime, now: datetime, cap: float) -> float:
    """Positive seconds from ``now`` to ``moment``, rounded up to milliseconds, at most ``cap``."""
    return min(max(math.ceil((moment - now).total_seconds() * 1000) / 1000, 0.001), cap)
