"""The "restricted" Pod Security Standard, as admission enforces it on a namespace labelled
``pod-security.kubernetes.io/enforce: restricted`` (Kubernetes' Pod Security Standards page,
policy version "latest"): what in a pod spec would make the API server refuse the pod.

Used on the pods of the manifests and of the docs' recipes (``kubectl run --overrides``), so
that a command the reader copies is not refused in ``zen-flow-system``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

ENFORCE_LABEL: Final = "pod-security.kubernetes.io/enforce"
# Volume types the restricted level allows.
VOLUME_TYPES: Final = frozenset(
    {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim"}
    | {"projected", "secret"}
)
CONTAINER_LISTS: Final = ("initContainers", "containers", "ephemeralContainers")


def restricted_problems(pod: dict[str, Any]) -> list[str]:
    """Why the restricted level refuses a pod spec; empty when it admits it."""
    pod_context = pod.get("securityContext") or {}
    problems = [*_host_problems(pod), *_volume_problems(pod)]
    containers = list(_containers(pod))
    if not containers:
        return [*problems, "the pod has no container"]
    for name, container in containers:
        context = container.get("securityContext") or {}
        problems += [f"container {name!r}: {p}" for p in _container_problems(context, pod_context)]
    return problems


def _containers(pod: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for key in CONTAINER_LISTS:
        for container in pod.get(key) or []:
            yield str(container.get("name", "?")), container


def _host_problems(pod: dict[str, Any]) -> Iterator[str]:
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(key):
            yield f"{key} must be false"


def _volume_problems(pod: dict[str, Any]) -> Iterator[str]:
    for volume in pod.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if not kinds <= VOLUME_TYPES:
            yield f"volume {volume.get('name')!r}: {', '.join(sorted(kinds))} is not allowed"


def _container_problems(context: dict[str, Any], pod: dict[str, Any]) -> Iterator[str]:
    """The checks of the restricted level on one container, with the pod's defaults."""
    if context.get("privileged"):
        yield "securityContext.privileged must be false"
    if context.get("allowPrivilegeEscalation") is not False:
        yield "securityContext.allowPrivilegeEscalation must be false"
    capabilities = context.get("capabilities") or {}
    if "ALL" not in (capabilities.get("drop") or []):
        yield 'securityContext.capabilities.drop must include "ALL"'
    added = set(capabilities.get("add") or []) - {"NET_BIND_SERVICE"}
    if added:
        yield f"securityContext.capabilities.add may only be NET_BIND_SERVICE, not {sorted(added)}"
    if _setting(context, pod, "runAsNonRoot") is not True:
        yield "runAsNonRoot must be true (in the pod's or the container's securityContext)"
    if _setting(context, pod, "runAsUser") == 0:
        yield "runAsUser must not be 0"
    seccomp = (_setting(context, pod, "seccompProfile") or {}).get("type")
    if seccomp not in ("RuntimeDefault", "Localhost"):
        yield (
            "seccompProfile.type must be RuntimeDefault or Localhost (in the pod's or the "
            "container's securityContext)"
        )


def _setting(context: dict[str, Any], pod: dict[str, Any], key: str) -> Any:
    """A container's setting, or the pod's when the container has none."""
    return context[key] if key in context else pod.get(key)


def merge_patch(target: Any, patch: Any) -> Any:
    """``patch`` applied to ``target`` as a JSON merge patch (RFC 7386), as ``kubectl run
    --overrides`` applies it by default: objects merge, everything else is replaced."""
    if not isinstance(patch, dict):
        return patch
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged
