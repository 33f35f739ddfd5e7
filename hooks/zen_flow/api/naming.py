"""Names and label values of children: deterministic, readable, unique, within Kubernetes limits."""

from __future__ import annotations

import hashlib

MAX_LABEL = 63
MAX_OBJECT_NAME = 253
# Hex digits of the hash that ends a Job's name.
JOB_DIGEST = 6


def _digest(*parts: str, length: int = 6) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:length]


def _fit(prefix: str, suffix: str, limit: int) -> str:
    """``prefix`` cut so that ``prefix + suffix`` fits ``limit``, never ending in a dash."""
    room = limit - len(suffix)
    return prefix[:room].rstrip("-.") + suffix


def job_name(flow: str, flow_uid: str, step: str, attempt: int) -> str:
    """``<flow>-<step>-<attempt>-<hash>``, at most 63 characters.

    The hash covers the flow's uid, the step and the attempt, so flows "a-b"/step "c" and
    "a"/step "b-c" differ, and a flow re-created under the same name never reuses the
    name of a Job of its predecessor that is still being garbage-collected.
    """
    suffix = f"-{attempt}-{_digest(flow_uid, flow, step, str(attempt), length=JOB_DIGEST)}"
    return _fit(f"{flow}-{step}", suffix, MAX_LABEL)


def job_name_bound(flow: str, step: str, attempt: int = 999) -> int:
    """The most characters ``job_name`` gives ``flow`` and ``step`` up to ``attempt``,
    without hashing (what a status entry that names the Job is counted for)."""
    return min(MAX_LABEL, len(f"{flow}-{step}-{attempt}-") + JOB_DIGEST)


def label_value(text: str) -> str:
    """``text`` if it is a valid label value length, else a cut of it plus a hash."""
    if len(text) <= MAX_LABEL:
        return text
    return _fit(text, f"-{_digest(text, length=8)}", MAX_LABEL)


def resource_name(flow: str, name: str) -> str:
    """The flow's copy of a resource template: ``<flow>-<name>``."""
    return f"{flow}-{name}"


def items_name(flow: str, flow_uid: str, step: str, items_digest: str) -> str:
    """The ConfigMap of a fan-out step's items: ``<flow>-<step>-items-<hash>``.

    The hash covers the items themselves, so the ConfigMap never changes once created (it is
    immutable), a retry with the same items reuses it, and items that change (a rerun of
    the step that wrote them) get a ConfigMap of their own.
    """
    suffix = f"-items-{_digest(flow_uid, flow, step, items_digest, length=10)}"
    return _fit(f"{flow}-{step}", suffix, MAX_OBJECT_NAME)
