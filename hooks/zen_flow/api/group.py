"""The JobFlow resource's identity: API group, version and kind."""

from __future__ import annotations

from typing import Final

GROUP: Final = "workflow.zen.io"
VERSION: Final = "v1alpha1"
API_VERSION: Final = f"{GROUP}/{VERSION}"
KIND: Final = "JobFlow"
