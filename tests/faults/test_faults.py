"""The fault suite: every scenario of tests/faults/scenarios.py against a real gateway with a
fault proxy in each link; the same checks the table in docs/faults.md reports
(``python -m tests.faults.report`` regenerates it)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.faults.harness import Outcome, Rig, dumps
from tests.faults.scenarios import SCENARIOS, Scenario, real_edge_restart

pytestmark = [pytest.mark.integration, pytest.mark.slow]
FAKE_ONLY = [s for s in SCENARIOS if s.run is not real_edge_restart]


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    with Rig(tmp_path_factory.mktemp("faults")) as started:
        yield started


def check(outcome: Outcome) -> None:
    assert outcome.checks, "a scenario must check something"
    assert not outcome.failed, f"{outcome.failed}\n{dumps(outcome)}"
    assert not outcome.lost, f"lost: {sorted(outcome.lost)}"


@pytest.mark.parametrize("scenario", FAKE_ONLY, ids=[s.name for s in FAKE_ONLY])
def test_fault(rig: Rig, scenario: Scenario) -> None:
    rig.clean()
    check(scenario.run(rig))


@pytest.mark.llamacpp
def test_real_edge_killed_and_restarted(rig: Rig, real_edge: Any) -> None:
    rig.clean()
    rig.real_edge = real_edge
    try:
        check(real_edge_restart(rig))
    finally:
        rig.real_edge = None
        real_edge.start()  # the session's edge stays up for the tests after this one
