"""Per-key limits shared through Redis without a round trip per request.

``admit`` decides in process and does no I/O: requests per minute against this replica's lease
of the key's bucket (``gateway.tenancy.lease``), tokens per minute and the budget against the
shared counters as the last settlement read them plus this replica's own charges since. A
background task settles every key used since the last tick in one pipelined batch (one
``EVALSHA`` per key, every ``interval_s``, or at once when a key runs out of credit): it reports
advances and charges, takes a new lease, and reads the shared token level and spend back.

Bounds (docs/tenancy.md): N replicas together overshoot ``rpm`` by at most two leases per
replica (a lease is at most 1 % of ``rpm``, at least one request); ``tpm`` and the budget are
seen at most one settlement late, so each replica may admit for ``interval_s`` (plus one round
trip) on a view that the others' charges have already used up.

Redis down or slow: a settlement that fails or takes longer than ``timeout_s`` switches this
replica to its own in-process counters (``LocalLimiter``: each replica enforces the full
limits alone, so N replicas admit up to N times a limit; never open, never closed), and charges
stay buffered. Requests never wait on Redis: the worst a Redis outage costs a request is
nothing. The next settlement that succeeds (tried every ``interval_s``) switches back.

The Redis keys (``{prefix}:{name}:rq|tk|usd:<period>``) and their arithmetic are those of
``gateway.tenancy.limiter.RedisLimiter``, so replicas of both kinds share one state.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.infra.tasks import cancel_and_wait
from gateway.tenancy.lease import (
    Share,
    admit_request,
    begin_settlement,
    finish_settlement,
    needs_settlement,
)
from gateway.tenancy.limiter import LocalLimiter
from gateway.tenancy.limits import (
    ALLOWED,
    REQUESTS,
    KeyLimits,
    LimitState,
    Verdict,
    admit,
    charge,
    period_id,
)

log = logging.getLogger("netgpt.tenancy")

INTERVAL_S = 0.05
TIMEOUT_S = 0.5

# KEYS: requests bucket (hash l,t), tokens bucket (hash l,t), USD spent this period (string).
# ARGV: now, rpm, tpm, budget (-1: none), debt, want, tokens, usd, budget TTL s.
# Returns {grant, requests level, tokens level, spent}. The requests part is
# gateway.tenancy.lease.settle_bucket; the tokens and USD parts are limiter._CHARGE_LUA.
_SETTLE_LUA = """
local now = tonumber(ARGV[1])
local rpm, tpm, budget = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local debt, want = tonumber(ARGV[5]), tonumber(ARGV[6])
local tokens, usd = tonumber(ARGV[7]), tonumber(ARGV[8])
local function level_of(key, cap)
  local got = redis.call('HMGET', key, 'l', 't')
  if not got[1] then return cap end
  return math.min(cap, tonumber(got[1]) + math.max(now - tonumber(got[2]), 0) * cap / 60)
end
local grant, rq, tk, spent = 0, 0, 0, 0
if rpm > 0 then
  rq = math.max(level_of(KEYS[1], rpm) - debt, -rpm)
  grant = math.max(0, math.min(want, math.floor(rq)))
  rq = rq - grant
  if debt > 0 or grant > 0 then
    redis.call('HSET', KEYS[1], 'l', tostring(rq), 't', ARGV[1])
    redis.call('PEXPIRE', KEYS[1], 61000)
  end
end
if tpm > 0 then
  tk = level_of(KEYS[2], tpm)
  if tokens > 0 then
    tk = math.max(tk - tokens, -tpm)
    redis.call('HSET', KEYS[2], 'l', tostring(tk), 't', ARGV[1])
    redis.call('PEXPIRE', KEYS[2], 121000)
  end
end
if usd > 0 then
  spent = tonumber(redis.call('INCRBYFLOAT', KEYS[3], ARGV[8]))
  redis.call('EXPIRE', KEYS[3], ARGV[9])
elseif budget >= 0 then
  spent = tonumber(redis.call('GET', KEYS[3]) or '0')
end
return {tostring(grant), tostring(rq), tostring(tk), tostring(spent)}
"""


def _num(value: float | int | None) -> str:
    return "-1" if value is None else repr(value)


@dataclass(slots=True)
class _Key:
    """This replica's state of one key: its lease, its view of the shared counters, and the
    charges not yet settled."""

    limits: KeyLimits
    view_limits: KeyLimits | None  # the tokens and budget limits (rpm is the lease's)
    share: Share = field(default_factory=Share)
    view: LimitState = field(default_factory=LimitState)
    tokens: int = 0
    usd: float = 0.0


def _view_limits(limits: KeyLimits) -> KeyLimits | None:
    if limits.tpm is None and limits.budget_usd is None:
        return None
    return dataclasses.replace(limits, rpm=None)


@dataclass(frozen=True, slots=True)
class _Entry:
    name: str
    key: _Key
    debt: int
    want: int
    tokens: int
    usd: float


class LeasedLimiter:
    """Limit state in Redis, decisions in process (see the module docstring)."""

    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str = "netgpt:key",
        clock: Callable[[], float] = time.time,
        interval_s: float = INTERVAL_S,
        timeout_s: float = TIMEOUT_S,
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.clock = clock
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.local = LocalLimiter(clock)
        self._settle = redis.register_script(_SETTLE_LUA)
        self._keys: dict[str, _Key] = {}
        self._dirty: set[str] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.failing = False

    # ------------------------------------------------------------------ request path (no I/O)
    def _key(self, name: str, limits: KeyLimits) -> _Key:
        key = self._keys.get(name)
        if key is None:
            key = self._keys[name] = _Key(limits, _view_limits(limits))
        elif key.limits != limits:  # the key file changed the key's limits
            key.limits, key.view_limits = limits, _view_limits(limits)
        self._dirty.add(name)
        return key

    async def admit(self, name: str, limits: KeyLimits, now: float) -> Verdict:
        return self.decide(name, limits, now)

    def decide(self, name: str, limits: KeyLimits, now: float) -> Verdict:
        key = self._key(name, limits)
        if self.failing:
            return self.local.decide(name, limits, now)
        if key.view_limits is not None:
            verdict = admit(key.view_limits, key.view, now)
            if not verdict.allowed:
                return verdict
        if limits.rpm is not None:
            wait = admit_request(key.share, limits.rpm, now)
            if wait is not None:
                return Verdict(False, REQUESTS, wait)
            if needs_settlement(key.share):
                self._wake.set()
        return ALLOWED

    def charge(self, name: str, limits: KeyLimits, tokens: int, usd: float) -> None:
        tokens, usd = max(tokens, 0), max(usd, 0.0)
        if (limits.tpm is None or tokens == 0) and (limits.budget_usd is None or usd == 0):
            return
        key = self._key(name, limits)
        now = self.clock()
        if self.failing:  # the fallback counters see it too
            self.local.charge(name, limits, tokens, usd)
        if key.view_limits is not None:
            charge(key.view_limits, key.view, now, tokens, usd)
        key.tokens += tokens
        key.usd += usd

    # ------------------------------------------------------------------ background
    def _redis_keys(self, name: str, limits: KeyLimits, now: float) -> list[str]:
        base = f"{self.prefix}:{{{name}}}"
        period = period_id(now, limits.budget_period_s)
        return [f"{base}:rq", f"{base}:tk", f"{base}:usd:{period}"]

    def _begin(self, names: set[str]) -> list[_Entry]:
        batch = []
        for name in names:
            key = self._keys[name]
            rpm = key.limits.rpm
            debt, want = begin_settlement(key.share, rpm) if rpm is not None else (0, 0)
            batch.append(_Entry(name, key, debt, want, key.tokens, key.usd))
            key.tokens, key.usd = 0, 0.0
        return batch

    async def settle(self) -> None:
        """Settle every key used since the last settlement in one pipeline; on failure or
        after ``timeout_s`` the charges stay buffered and this replica limits on its own."""
        if not self._dirty:
            return
        names, self._dirty = self._dirty, set()
        now = self.clock()
        batch = self._begin(names)
        try:
            async with asyncio.timeout(self.timeout_s):
                replies = await self._send(batch, now)
        except (RedisError, OSError, TimeoutError) as exc:
            self._fail(exc)
            for entry in batch:
                entry.key.tokens += entry.tokens
                entry.key.usd += entry.usd
            self._dirty |= names
            return
        if self.failing:
            log.info("rate-limit state in Redis reachable again; limits hold across replicas")
        self.failing = False
        for entry, reply in zip(batch, replies, strict=True):
            self._apply(entry, [float(x) for x in reply], now)

    async def _send(self, batch: list[_Entry], now: float) -> list[list[bytes]]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for e in batch:
                limits = e.key.limits
                args = [
                    repr(now), _num(limits.rpm), _num(limits.tpm), _num(limits.budget_usd),
                    str(e.debt), str(e.want), str(e.tokens), repr(e.usd),
                    str(int(limits.budget_period_s + 3600)),
                ]
                await self._settle(keys=self._redis_keys(e.name, limits, now), args=args, client=pipe)
            replies: list[list[bytes]] = await pipe.execute()
        return replies

    def _apply(self, entry: _Entry, reply: list[float], now: float) -> None:
        grant, rq_level, tk_level, spent = reply
        key, limits = entry.key, entry.key.limits
        if limits.rpm is not None:
            finish_settlement(key.share, entry.debt, int(grant), rq_level, now)
        if limits.tpm is not None:  # less what this replica charged since the batch left
            key.view.tk_level = max(tk_level - key.tokens, -float(limits.tpm))
            key.view.tk_at = now
        if limits.budget_usd is not None:
            key.view.spent = {period_id(now, limits.budget_period_s): spent + key.usd}

    def _fail(self, exc: BaseException) -> None:
        if not self.failing:
            log.warning(
                "rate-limit state in Redis unreachable or slow; limits hold per replica until it "
                "answers again",
                extra={"error": type(exc).__name__},
            )
        self.failing = True

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval_s):
                    await self._wake.wait()
            self._wake.clear()
            await self.settle()
            await asyncio.sleep(0)

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait([self._task])
            self._task = None
        with contextlib.suppress(RedisError, OSError):
            await self.settle()
