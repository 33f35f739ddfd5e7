"""Go-style durations ("90s", "1m30s", "500ms"), the format Kubernetes users already write."""

from __future__ import annotations

import re

_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_WHOLE = re.compile(r"^(?:[0-9]+(?:\.[0-9]+)?(?:ms|s|m|h))+$")
_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
DURATION_EXAMPLES = 'use e.g. "30s", "10m", "1h30m", "500ms"'


def parse_duration(text: str) -> float:
    """Seconds in ``text``; ``ValueError`` naming the text when it is not a duration."""
    if not _WHOLE.match(text):
        raise ValueError(f'invalid duration "{text}": {DURATION_EXAMPLES}')
    return sum(float(number) * _SECONDS[unit] for number, unit in _PART.findall(text))
