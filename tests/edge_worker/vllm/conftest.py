"""The real vLLM server (CPU build) with SmolLM2-135M-Instruct, once per test session.

Installed, converted and cached by `netgpt edge install --engine vllm` (scripts/test runs it
before pytest); installed here if not. About 5 GB of memory while it runs, ready in about a
minute: only tests marked ``vllm`` ask for it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from edge_worker.vllm.server import VllmServer


@pytest.fixture(scope="session")
def real_vllm() -> Iterator[VllmServer]:
    """Tests that kill it must bring it back (``real_vllm.start()``)."""
    with VllmServer("smollm2") as server:
        yield server
