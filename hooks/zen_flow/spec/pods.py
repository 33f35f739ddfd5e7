"""What in a step's pod template the API server would refuse when the step's Job is created.

The pod spec is passed to Kubernetes as written, so most of it is Kubernetes' to check; but a
Job the API server refuses is never created, and its step would wait for it forever. The
slips that are common and cheap to see are checked here, before anything runs: container
names (unique DNS-1123 labels) and volume mounts that name no volume of the pod.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from zen_flow.api.spec import JobFlowSpec, JobTemplate
from zen_flow.spec.shape import step_paths

_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
NAME_RULE = (
    "at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit"
)


def pod_problems(spec: JobFlowSpec) -> Iterator[tuple[str, str]]:
    """(field path, message) of each problem of every step's pod template."""
    for where, step in step_paths(spec):
        if step.template is not None:
            yield from _pod(f"{where}.template.spec.template.spec", step.template)
    for index, named in enumerate(spec.templates):
        # Names with a placeholder are checked for each step that uses the template, once
        # substituted (zen_flow.spec.validation).
        where = f"spec.templates[{index}].template.spec.template.spec"
        yield from (p for p in pod_problems_of(where, named.template) if "{{" not in p[1])


def pod_problems_of(where: str, template: JobTemplate) -> Iterator[tuple[str, str]]:
    """(field path, message) of each problem of one Job template's pod."""
    return _pod(where, template)


def _pod(where: str, template: JobTemplate) -> Iterator[tuple[str, str]]:
    pod = template.spec.template.spec
    extra = pod.model_extra or {}
    volumes = {str(v.get("name")) for v in _dicts(extra.get("volumes"))}
    seen: dict[str, str] = {}
    for path, name, mounts in _containers(where, pod.containers, extra):
        if len(name) > 63 or not _LABEL.fullmatch(name):
            yield f"{path}.name", f'container name "{name[:70]}": {NAME_RULE}'
        elif name in seen:
            yield f"{path}.name", f'duplicate container name "{name}" (also {seen[name]})'
        else:
            seen[name] = path
        for position, mount in enumerate(mounts):
            wanted = str(mount.get("name", ""))
            if wanted not in volumes:
                known = ", ".join(sorted(volumes)) or "none"
                yield (
                    f"{path}.volumeMounts[{position}].name",
                    f'no volume "{wanted}" in the pod (its volumes: {known})',
                )


def _containers(
    where: str, containers: list[Any], extra: dict[str, Any]
) -> Iterator[tuple[str, str, list[dict[str, Any]]]]:
    """(path, name, volume mounts) of every init container and container."""
    for position, init in enumerate(_dicts(extra.get("initContainers"))):
        mounts = list(_dicts(init.get("volumeMounts")))
        yield f"{where}.initContainers[{position}]", str(init.get("name", "")), mounts
    for position, container in enumerate(containers):
        mounts = list(_dicts((container.model_extra or {}).get("volumeMounts")))
        yield f"{where}.containers[{position}]", container.name, mounts


def _dicts(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, list):
        yield from (item for item in value if isinstance(item, dict))
