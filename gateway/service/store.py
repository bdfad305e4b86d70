"""Stored Responses (``store`` / ``previous_response_id`` / ``GET`` and ``DELETE /v1/responses/{id}``).

One entry per response: the response object and the conversation that led to it (every input
item of the chain, then this response's output items), so a follow-up with
``previous_response_id`` reads one key. Entries are kept per client key: the owner is a hash of
the bearer token, part of the Redis key, so a key never reads (or deletes) another key's
responses. Entries expire after ``NETGPT_RESPONSES_TTL_S``.

:class:`RedisResponseStore` serves every replica (``NETGPT_REDIS_URL``); without Redis,
:class:`MemoryResponseStore` keeps them in the process (bounded, oldest dropped first).
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from gateway.errors import GatewayError

if TYPE_CHECKING:
    from redis.asyncio import Redis

PREFIX = "netgpt:responses:"


class StoreUnavailable(GatewayError):
    status = 503
    code = "store_unavailable"


def owner_of(token: str | None) -> str:
    """The owner id of a client key: never the key itself."""
    return hashlib.sha256(("netgpt-responses:" + (token or "")).encode()).hexdigest()[:32]


class ResponseStore(Protocol):
    async def save(self, owner: str, response_id: str, entry: dict[str, Any]) -> None: ...

    async def load(self, owner: str, response_id: str) -> dict[str, Any] | None: ...

    async def delete(self, owner: str, response_id: str) -> bool: ...


class MemoryResponseStore:
    """In-process store with the same TTL; at most ``capacity`` entries."""

    def __init__(self, ttl_s: float, capacity: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self.capacity = capacity
        self._entries: OrderedDict[tuple[str, str], tuple[float, bytes]] = OrderedDict()

    async def save(self, owner: str, response_id: str, entry: dict[str, Any]) -> None:
        self._entries[(owner, response_id)] = (time.monotonic() + self.ttl_s, orjson.dumps(entry))
        self._entries.move_to_end((owner, response_id))
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)

    async def load(self, owner: str, response_id: str) -> dict[str, Any] | None:
        found = self._entries.get((owner, response_id))
        if found is None:
            return None
        if found[0] < time.monotonic():
            del self._entries[(owner, response_id)]
            return None
        value: dict[str, Any] = orjson.loads(found[1])
        return value

    async def delete(self, owner: str, response_id: str) -> bool:
        found = self._entries.pop((owner, response_id), None)
        return found is not None and found[0] >= time.monotonic()


class RedisResponseStore:
    """Entries as JSON strings under ``netgpt:responses:<owner>:<id>`` with a TTL."""

    def __init__(self, redis: Redis, ttl_s: float) -> None:
        self.redis = redis
        self.ttl_ms = max(1, int(ttl_s * 1000))

    @staticmethod
    def key(owner: str, response_id: str) -> str:
        return f"{PREFIX}{owner}:{response_id}"

    async def save(self, owner: str, response_id: str, entry: dict[str, Any]) -> None:
        try:
            await self.redis.set(self.key(owner, response_id), orjson.dumps(entry), px=self.ttl_ms)
        except Exception as exc:  # redis errors, timeouts, connection resets
            raise _unavailable(exc) from None

    async def load(self, owner: str, response_id: str) -> dict[str, Any] | None:
        try:
            raw = await self.redis.get(self.key(owner, response_id))
        except Exception as exc:
            raise _unavailable(exc) from None
        if raw is None:
            return None
        value: dict[str, Any] = orjson.loads(raw)
        return value

    async def delete(self, owner: str, response_id: str) -> bool:
        try:
            return bool(await self.redis.delete(self.key(owner, response_id)))
        except Exception as exc:
            raise _unavailable(exc) from None


def _unavailable(exc: Exception) -> StoreUnavailable:
    return StoreUnavailable(f"the response store (Redis, NETGPT_REDIS_URL) is unreachable "
                            f"({type(exc).__name__}); retry, or send the whole conversation with store=false")
