"""In-flight counts shared between gateway replicas through Redis.

Each replica keeps its own counts exact in memory (``LiveLoad.acquire/release``: no I/O on the
request path) and, every ``share_interval_s``, publishes them in one pipelined round trip and
reads the other replicas' back:

* ``netgpt:experts:inflight:<replica>`` — a hash ``expert -> count`` with a TTL of
  ``replica_ttl_s``, rewritten each time, so a replica that dies takes its counts with it;
* ``netgpt:experts:replicas`` — a sorted set ``replica -> last publish (unix s)``, trimmed of
  replicas silent for longer than the TTL.

The other replicas' counts are thus at most one share interval (plus a round trip) old. An
``INCR``/``DECR`` per edge call would make them exact, at the price of two Redis round trips per
request on the event loop; docs/experts.md has the measured cost of both.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.config import ExpertsSettings
from gateway.experts.load import LiveLoad
from gateway.infra.tasks import cancel_and_wait

log = logging.getLogger("netgpt.experts")

PREFIX = "netgpt:experts"


class SharedInFlight:
    def __init__(
        self,
        redis: Redis,
        load: LiveLoad,
        settings: ExpertsSettings,
        *,
        replica_id: str | None = None,
        prefix: str = PREFIX,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis = redis
        self.load = load
        self.settings = settings
        self.replica_id = replica_id or secrets.token_hex(6)
        self.clock = clock
        self._replicas = f"{prefix}:replicas"
        self._hash_prefix = f"{prefix}:inflight:"
        self._own = self._hash_prefix + self.replica_id
        self._task: asyncio.Task[None] | None = None
        self._failing = False
        self.replicas = 1  # replicas seen at the last sync, this one included
        self.last_sync_s: float | None = None  # duration of the last sync round trip

    async def sync(self) -> None:
        """Publish this replica's counts and read the others' (two pipelined round trips)."""
        started = time.perf_counter()
        now = self.clock()
        ttl_ms = max(int(self.settings.replica_ttl_s * 1000), 1)
        own = {name: load.in_flight for name, load in self.load.loads.items()}
        pipe = self.redis.pipeline(transaction=False)
        pipe.hset(self._own, mapping=own)  # type: ignore[arg-type]
        pipe.pexpire(self._own, ttl_ms)
        pipe.zadd(self._replicas, {self.replica_id: now})
        pipe.zremrangebyscore(self._replicas, "-inf", now - self.settings.replica_ttl_s)
        pipe.zrange(self._replicas, 0, -1)
        results = await pipe.execute()
        others = [_text(r) for r in results[-1] if _text(r) != self.replica_id]
        totals = dict.fromkeys(own, 0)
        if others:
            pipe = self.redis.pipeline(transaction=False)
            for replica in others:
                pipe.hgetall(self._hash_prefix + replica)
            for counts in await pipe.execute():
                for name, value in (counts or {}).items():
                    key = _text(name)
                    if key in totals:
                        totals[key] += max(int(value), 0)
        for name, count in totals.items():
            self.load.loads[name].remote_in_flight = count
        self.replicas = 1 + len(others)
        self.last_sync_s = time.perf_counter() - started

    async def _loop(self) -> None:
        while True:
            try:
                await self.sync()
                if self._failing:
                    log.warning("in-flight counts shared through Redis again")
                self._failing = False
            except (RedisError, OSError) as exc:
                if not self._failing:
                    log.warning("cannot share in-flight counts through Redis: %s", exc)
                self._failing = True
                for load in self.load.loads.values():  # unknown: count only our own
                    load.remote_in_flight = 0
            await asyncio.sleep(self.settings.share_interval_s)

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait([self._task])
            self._task = None
        with contextlib.suppress(RedisError, OSError):
            pipe = self.redis.pipeline(transaction=False)
            pipe.delete(self._own)
            pipe.zrem(self._replicas, self.replica_id)
            await pipe.execute()

    def state(self) -> dict[str, Any]:
        return {
            "replica_id": self.replica_id,
            "replicas": self.replicas,
            "last_sync_ms": None if self.last_sync_s is None else round(self.last_sync_s * 1000, 3),
            "failing": self._failing,
        }


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
