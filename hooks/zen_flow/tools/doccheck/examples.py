"""What the examples' comments promise a simulation shows.

An example may say, in its comments, how to run it without a cluster and what happens::

    #   zen-flow simulate examples/when-flow.yaml --outcome load-cache=fail
    #
    # Expected: extract, load-db, notify-failure and report Succeeded; load-cache Failed
    # (tolerated); cleanup-disabled Skipped; the flow Succeeded. Prose may follow.

Each such pair is a claim a test checks by running that very command.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from zen_flow.api.status import FlowPhase, StepPhase

_COMMAND = re.compile(r"#\s+zen-flow (simulate .*)$")
_EXPECTED = re.compile(r"#\s*Expected:\s*(.*)$")
_PHASES = {phase.value for phase in StepPhase} | {phase.value for phase in FlowPhase}


class ClaimError(ValueError):
    """An ``Expected:`` sentence that does not say step phases."""


@dataclass
class SimulationClaim:
    """A ``zen-flow simulate`` command of an example and the phases it should end with."""

    where: str
    args: list[str]
    steps: dict[str, str] = field(default_factory=dict)
    flow: str | None = None


def simulation_claims(path: Path) -> list[SimulationClaim]:
    """Every simulate command in the comments of ``path`` that has an ``Expected:``."""
    claims: list[SimulationClaim] = []
    command: SimulationClaim | None = None
    sentence: list[str] | None = None
    for number, line in enumerate([*path.read_text().splitlines(), ""], 1):
        text = line.strip()
        found = _COMMAND.match(text)
        if found:
            command = SimulationClaim(f"{path.name}:{number}", shlex.split(found[1]))
            continue
        expected = _EXPECTED.match(text)
        if expected and command is not None:
            sentence = [expected[1]]
            continue
        if sentence is not None and text.startswith("#") and text.strip("# "):
            sentence.append(text.lstrip("# "))
            continue
        if sentence is not None and command is not None:
            _read_sentence(command, " ".join(sentence))
            claims.append(command)
            command, sentence = None, None
    return claims


def _read_sentence(claim: SimulationClaim, sentence: str) -> None:
    """``a, b and c Succeeded; d Failed (why); the flow Succeeded.``: the claim ends with the
    flow's phase; what follows it is prose."""
    end = re.search(r"\bthe flow (\w+)", sentence)
    if end is None:
        raise ClaimError(f"{claim.where}: 'Expected:' must end with 'the flow <phase>'")
    text = re.sub(r"\([^)]*\)", "", sentence[: end.end()]).strip()
    for clause in text.split(";"):
        words = clause.replace(",", " ").split()
        if not words or words[-1] not in _PHASES:
            raise ClaimError(f"{claim.where}: {clause.strip()!r} does not end with a phase")
        *names, phase = words
        if names == ["the", "flow"]:
            claim.flow = phase
            continue
        for name in names:
            if name != "and":
                claim.steps[name] = phase
