"""Names a flow's children will have, checked before any exists: a child whose name the API
server would refuse could never be created, and the flow would wait for it forever.

Job names are cut and hashed to 63 characters whatever the flow's name (``api.naming``), and
label values likewise; the copies of resource templates are named ``<flow>-<name>`` in full,
so the flow's name and each template's name share a budget of 253 characters.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from zen_flow.api.naming import resource_name
from zen_flow.api.spec import ConfigMapTemplate, JobFlowSpec, VolumeClaimTemplate
from zen_flow.spec.validation import Problem

MAX_OBJECT_NAME = 253
# The API server appends 5 random characters to ``generateName``, cut to 58 first.
GENERATED_SUFFIX = 5
MAX_GENERATE_NAME = 63 - GENERATED_SUFFIX


def generated_length(generate_name: str) -> int:
    """The length of a name the API server makes from ``generateName``."""
    return min(len(generate_name), MAX_GENERATE_NAME) + GENERATED_SUFFIX


def name_problems(flow: str, spec: JobFlowSpec, flow_length: int | None = None) -> list[Problem]:
    """The children of flow ``flow`` whose names could not exist. ``flow_length`` is the
    length of the flow's name when only its prefix is known (``generateName``)."""
    return list(_resource_copies(flow, spec, len(flow) if flow_length is None else flow_length))


def _resource_copies(flow: str, spec: JobFlowSpec, flow_length: int) -> Iterator[Problem]:
    templates = spec.resource_templates
    if templates is None:
        return
    kinds: list[tuple[str, Sequence[VolumeClaimTemplate | ConfigMapTemplate]]] = [
        ("volumeClaimTemplates", templates.volume_claim_templates),
        ("configMapTemplates", templates.config_map_templates),
    ]
    for field, items in kinds:
        for index, item in enumerate(items):
            name = item.metadata.name
            length = flow_length + 1 + len(name)
            if length <= MAX_OBJECT_NAME:
                continue
            copy = resource_name(flow, name)
            shown = copy if len(copy) <= 60 else f"{copy[:28]}...{copy[-28:]}"
            yield Problem(
                f"spec.resourceTemplates.{field}[{index}].metadata.name",
                f'the flow\'s copy "{shown}" would have {length} characters, more than the '
                f"{MAX_OBJECT_NAME} a name may have: shorten the flow's name ({flow_length} "
                f"characters) or this one ({len(name)})",
            )
