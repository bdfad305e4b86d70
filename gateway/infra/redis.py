"""Redis clients whose lost connections surface as ``redis.exceptions.ConnectionError``.

Under uvloop, when Redis restarts or a connection is reset, redis-py's next write goes to a
transport uvloop has already closed, and uvloop raises ``RuntimeError`` ("unable to perform
operation on <TCPTransport closed=True ...>; the handler is closed") where asyncio's own loop
raises an ``OSError`` that redis-py turns into ``ConnectionError``. Every Redis user in the
gateway (dataset writer, budget, shared in-flight counts, key limits) handles
``ConnectionError`` as "Redis is away"; a ``RuntimeError`` instead killed background tasks and
failed the shutdown (found by tests/faults, "Redis stopped and restarted mid-run").

    redis = redis_from_url("redis://127.0.0.1:6379/0", socket_timeout=2)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.connection import Connection
from redis.exceptions import ConnectionError as RedisConnectionError


class ResetSafeConnection(Connection):
    """A TCP connection that reports a write to a closed transport as a lost connection."""

    async def send_packed_command(
        self, command: bytes | str | Iterable[bytes], check_health: bool = True
    ) -> None:
        try:
            await super().send_packed_command(command, check_health)
        except RuntimeError as exc:
            await self.disconnect(nowait=True)
            raise RedisConnectionError(f"the connection to Redis was lost ({exc})") from None


def redis_from_url(url: str, **kwargs: Any) -> Redis:
    """``Redis.from_url`` with :class:`ResetSafeConnection` for ``redis://`` URLs (TLS and
    unix-socket URLs keep redis-py's own connection classes)."""
    if url.startswith("redis://"):
        kwargs.setdefault("connection_class", ResetSafeConnection)
    return Redis.from_url(url, **kwargs)
