"""The restricted Pod Security level, as the docs' recipes and the manifests must meet it."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from zen_flow.tools.doccheck.podsecurity import merge_patch, restricted_problems

ADMITTED: dict[str, Any] = {
    "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
    "containers": [
        {
            "name": "main",
            "image": "busybox:1.36",
            "securityContext": {
                "allowPrivilegeEscalation": False,
                "capabilities": {"drop": ["ALL"]},
            },
        }
    ],
    "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "x"}}],
}


def test_a_pod_meeting_every_rule_is_admitted() -> None:
    assert restricted_problems(ADMITTED) == []


@pytest.mark.parametrize(
    ("path", "value", "problem"),
    [
        (("securityContext", "runAsNonRoot"), False, "runAsNonRoot must be true"),
        (("securityContext", "seccompProfile"), {"type": "Unconfined"}, "seccompProfile.type"),
        (("containers", 0, "securityContext", "allowPrivilegeEscalation"), True, "allowPrivil"),
        (("containers", 0, "securityContext", "capabilities"), {}, 'drop must include "ALL"'),
        (("containers", 0, "securityContext", "privileged"), True, "privileged must be false"),
        (("containers", 0, "securityContext", "runAsUser"), 0, "runAsUser must not be 0"),
        (("volumes", 0), {"name": "h", "hostPath": {"path": "/"}}, "hostPath is not allowed"),
        (("hostNetwork",), True, "hostNetwork must be false"),
    ],
)
def test_each_rule_broken_is_named(path: tuple[Any, ...], value: Any, problem: str) -> None:
    pod = copy.deepcopy(ADMITTED)
    target: Any = pod
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    found = restricted_problems(pod)
    assert any(problem in text for text in found), found


def test_container_settings_override_the_pods() -> None:
    pod = copy.deepcopy(ADMITTED)
    pod["containers"][0]["securityContext"]["runAsNonRoot"] = False
    assert any("runAsNonRoot" in text for text in restricted_problems(pod))


def test_overrides_are_a_json_merge_patch() -> None:
    merged = merge_patch(
        {"spec": {"containers": [{"name": "a"}], "restartPolicy": "Never"}},
        {"spec": {"containers": [{"name": "b"}], "restartPolicy": None}},
    )
    assert merged == {"spec": {"containers": [{"name": "b"}]}}
