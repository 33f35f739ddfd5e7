"""The claims of the examples' comments are read as the reader reads them."""

from __future__ import annotations

from pathlib import Path

import pytest

from zen_flow.tools.doccheck.examples import ClaimError, simulation_claims


def test_a_claim_is_the_command_and_the_phases_it_ends_with(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text(
        "# Intro.\n#\n#   zen-flow simulate examples/x.yaml --outcome a=fail\n#\n"
        "# Expected: a Failed (tolerated); b and c Succeeded; the flow Succeeded. Then\n"
        "# prose that is not part of it.\napiVersion: v1\n"
    )
    [claim] = simulation_claims(path)
    assert claim.where == "x.yaml:3"
    assert claim.args == ["simulate", "examples/x.yaml", "--outcome", "a=fail"]
    assert claim.steps == {"a": "Failed", "b": "Succeeded", "c": "Succeeded"}
    assert claim.flow == "Succeeded"


def test_a_claim_must_end_with_the_flows_phase(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("#   zen-flow simulate x.yaml\n#\n# Expected: a Succeeded.\n")
    with pytest.raises(ClaimError, match="must end with 'the flow <phase>'"):
        simulation_claims(path)
