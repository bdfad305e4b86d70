"""Fixtures of the dataset tests: an own redis-server (stoppable) and a metrics registry."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.metrics import GatewayMetrics
from tests.support.redis_server import RedisServer


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def metrics() -> GatewayMetrics:
    return GatewayMetrics()
