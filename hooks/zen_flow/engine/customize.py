"""Metacontroller's customize hook: which related objects sync requests should carry.

Only the pods of steps that declare outputs, in the flow's namespace (Metacontroller keeps
a namespaced parent's related objects to its namespace), found by their step label:
reading outputs costs nothing to flows that declare none. Metacontroller caches the answer
per flow generation, so it depends on the spec alone.
"""

from __future__ import annotations

from typing import Any

import msgspec

from zen_flow.api.labels import LABEL_JOBFLOW, LABEL_STEP
from zen_flow.api.naming import label_value
from zen_flow.engine.wire import Parent, WireError
from zen_flow.spec.validation import InvalidSpecError, parse_spec


class _CustomizeRequest(msgspec.Struct, frozen=True):
    parent: Parent


_decoder = msgspec.json.Decoder(_CustomizeRequest)


def customize(body: bytes) -> dict[str, Any]:
    """The answer to a customize request: ``{"relatedResources": [...]}``."""
    try:
        parent = _decoder.decode(body).parent
    except (msgspec.DecodeError, RecursionError) as error:
        raise WireError(f"not a customize request: {error}") from error
    try:
        spec = parse_spec(bytes(parent.spec))
    except InvalidSpecError:
        return {"relatedResources": []}  # the sync hook reports why
    steps = sorted(step.name for step in spec.all_steps if step.output_names)
    if not steps:
        return {"relatedResources": []}
    selector = {
        "matchLabels": {LABEL_JOBFLOW: label_value(parent.metadata.name)},
        "matchExpressions": [{"key": LABEL_STEP, "operator": "In", "values": steps}],
    }
    return {
        "relatedResources": [{"apiVersion": "v1", "resource": "pods", "labelSelector": selector}]
    }
