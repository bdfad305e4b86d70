"""Where per-key limit state lives: in this process, or in Redis shared by every replica.

``Tenancy.use_redis`` now uses ``gateway.tenancy.leased.LeasedLimiter`` (no round trip per
request, same Redis keys); ``RedisLimiter`` below, one round trip per admission, stays as the
exact reference and for ``bench.tenancy_admit``.

Both run the arithmetic of ``gateway.tenancy.limits``; Redis runs it in Lua so one admission is
one atomic round trip (``EVALSHA``), whatever the number of replicas.

- ``admit(name, limits, now)`` decides a request and takes its request token.
- ``charge(name, limits, tokens, usd)`` books an answered request's tokens and cloud cost. The
  Redis limiter buffers charges and flushes them every ``flush_interval_s`` in one pipeline, so
  the request path never waits on it; a replica's charges reach the others within that time.

When Redis fails, admission falls back to this process's own counters (limits then hold per
replica, not across them) and charges stay buffered until Redis answers again: the gateway
keeps serving, and a Redis outage never opens the limits entirely.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.infra.tasks import cancel_and_wait
from gateway.tenancy.limits import (
    KeyLimits,
    LimitState,
    Verdict,
    admit,
    charge,
    period_id,
    seconds_to_period_end,
)

log = logging.getLogger("netgpt.tenancy")

FLUSH_INTERVAL_S = 0.1
_MAX_PENDING = 100_000  # distinct keys buffered while Redis is down; beyond that, drop


class Limiter(Protocol):
    async def admit(self, name: str, limits: KeyLimits, now: float) -> Verdict: ...

    def charge(self, name: str, limits: KeyLimits, tokens: int, usd: float) -> None: ...


class LocalLimiter:
    """Per-process counters; used alone without Redis, and as the fallback when it fails."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._state: dict[str, LimitState] = {}

    def _of(self, name: str) -> LimitState:
        state = self._state.get(name)
        if state is None:
            state = self._state[name] = LimitState()
        return state

    async def admit(self, name: str, limits: KeyLimits, now: float) -> Verdict:
        return admit(limits, self._of(name), now)

    def decide(self, name: str, limits: KeyLimits, now: float) -> Verdict:
        return admit(limits, self._of(name), now)

    def charge(self, name: str, limits: KeyLimits, tokens: int, usd: float) -> None:
        charge(limits, self._of(name), self.clock(), tokens, usd)


# KEYS: requests bucket (hash l,t), tokens bucket (hash l,t), USD spent this period (string).
# ARGV: now, rpm, tpm, budget (each -1 when unlimited), seconds to the period's end.
# Returns {verdict, retry_after}: "ok", "budget", "tokens" or "requests". Same order and
# arithmetic as gateway.tenancy.limits.admit; only an admitted request takes a request token.
_ADMIT_LUA = """
local now = tonumber(ARGV[1])
local rpm, tpm, budget = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local function level_of(key, cap)
  local got = redis.call('HMGET', key, 'l', 't')
  if not got[1] then return cap end
  return math.min(cap, tonumber(got[1]) + math.max(now - tonumber(got[2]), 0) * cap / 60)
end
if budget >= 0 then
  local spent = tonumber(redis.call('GET', KEYS[3]) or '0')
  if spent >= budget then return {'budget', ARGV[5]} end
end
if tpm > 0 then
  local level = level_of(KEYS[2], tpm)
  if level <= 0 then return {'tokens', tostring(math.max(-level * 60 / tpm, 60 / tpm))} end
end
if rpm > 0 then
  local level = level_of(KEYS[1], rpm)
  if level < 1 then return {'requests', tostring((1 - level) * 60 / rpm)} end
  redis.call('HSET', KEYS[1], 'l', tostring(level - 1), 't', ARGV[1])
  redis.call('PEXPIRE', KEYS[1], 61000)
end
return {'ok', '0'}
"""

# KEYS: tokens bucket, USD spent this period. ARGV: now, tpm (-1: none), tokens, usd, TTL s.
_CHARGE_LUA = """
local now, tpm, tokens = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if tpm > 0 and tokens > 0 then
  local got = redis.call('HMGET', KEYS[1], 'l', 't')
  local level = tpm
  if got[1] then
    level = math.min(tpm, tonumber(got[1]) + math.max(now - tonumber(got[2]), 0) * tpm / 60)
  end
  level = math.max(level - tokens, -tpm)
  redis.call('HSET', KEYS[1], 'l', tostring(level), 't', ARGV[1])
  redis.call('PEXPIRE', KEYS[1], 121000)
end
if tonumber(ARGV[4]) > 0 then
  redis.call('INCRBYFLOAT', KEYS[2], ARGV[4])
  redis.call('EXPIRE', KEYS[2], ARGV[5])
end
return 1
"""

_LIMITS = ("requests", "tokens", "budget")


def _num(value: float | int | None) -> str:
    return "-1" if value is None else repr(value)


class RedisLimiter:
    """Limit state in Redis under ``{prefix}:{name}:...`` (one hash tag per key name)."""

    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str = "netgpt:key",
        clock: Callable[[], float] = time.time,
        flush_interval_s: float = FLUSH_INTERVAL_S,
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.clock = clock
        self.flush_interval_s = flush_interval_s
        self.local = LocalLimiter(clock)
        self._admit = redis.register_script(_ADMIT_LUA)
        self._charge = redis.register_script(_CHARGE_LUA)
        self._pending: dict[str, tuple[KeyLimits, int, float]] = {}
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    def _keys(self, name: str, limits: KeyLimits, now: float) -> list[str]:
        base = f"{self.prefix}:{{{name}}}"
        period = period_id(now, limits.budget_period_s)
        return [f"{base}:rq", f"{base}:tk", f"{base}:usd:{period}"]

    async def admit(self, name: str, limits: KeyLimits, now: float) -> Verdict:
        args = [
            repr(now), _num(limits.rpm), _num(limits.tpm), _num(limits.budget_usd),
            repr(seconds_to_period_end(now, limits.budget_period_s)),
        ]
        try:
            verdict, retry = await self._admit(keys=self._keys(name, limits, now), args=args)
        except (RedisError, OSError) as exc:
            self._fail(exc)
            return self.local.decide(name, limits, now)
        self._failing = False
        kind = verdict.decode() if isinstance(verdict, bytes) else str(verdict)
        if kind == "ok":
            return Verdict(True)
        return Verdict(False, kind if kind in _LIMITS else "requests", float(retry))

    def charge(self, name: str, limits: KeyLimits, tokens: int, usd: float) -> None:
        if (limits.tpm is None or tokens <= 0) and (limits.budget_usd is None or usd <= 0):
            return
        if self._failing:  # the fallback counters see it too
            self.local.charge(name, limits, tokens, usd)
        _, t, u = self._pending.get(name, (limits, 0, 0.0))
        if name in self._pending or len(self._pending) < _MAX_PENDING:
            self._pending[name] = (limits, t + max(tokens, 0), u + max(usd, 0.0))

    async def flush(self) -> None:
        """Send the buffered charges; on failure they stay buffered for the next flush."""
        if not self._pending:
            return
        batch, self._pending = self._pending, {}
        now = self.clock()
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for name, (limits, tokens, usd) in batch.items():
                    keys = self._keys(name, limits, now)
                    ttl = int(limits.budget_period_s + 3600)
                    args = [repr(now), _num(limits.tpm), str(tokens), repr(usd), str(ttl)]
                    await self._charge(keys=[keys[1], keys[2]], args=args, client=pipe)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            self._fail(exc)
            for name, (limits, tokens, usd) in batch.items():
                _, t, u = self._pending.get(name, (limits, 0, 0.0))
                self._pending[name] = (limits, t + tokens, u + usd)
            return
        self._failing = False

    def _fail(self, exc: BaseException) -> None:
        if not self._failing:
            log.warning(
                "rate-limit state in Redis unreachable; limits hold per replica until it returns",
                extra={"error": type(exc).__name__},
            )
        self._failing = True

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval_s)
            await self.flush()

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait([self._task])
            self._task = None
        with contextlib.suppress(RedisError, OSError):
            await self.flush()

