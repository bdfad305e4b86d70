"""Where the budget multiplier μ and its sliding window live: in this process, or in Redis.

``BudgetController`` is what the request path sees: ``multiplier()`` returns a cached μ and
``record()`` only updates memory, so neither does I/O. The math is the pure dual ascent of
``gateway.routing.budget``.

- Without ``NETGPT_REDIS_URL`` the window and μ are local, updated on ``record()`` every
  ``update_every`` requests.
- With it, every replica buffers its counts and a background task flushes them every
  ~100 ms with one Lua script (window buckets + running totals, expired buckets subtracted, all
  atomic) and reads back μ. When ``update_every`` requests have arrived since the last step, the
  replica computes the next μ and stores it with a compare-and-set on a version number, so
  exactly one replica takes each step and every replica reads the same μ.

If Redis is unreachable, the buffer is kept (older than the window is dropped) and μ keeps its
last value; routing goes on.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.config import Settings
from gateway.infra.tasks import cancel_and_wait
from gateway.metrics import GatewayMetrics
from gateway.routing.budget import ShareWindow, WindowTotals, budget_error, dual_step, mean_cost

log = logging.getLogger("netgpt.budget")

BUCKETS = 60
FLUSH_INTERVAL_S = 0.1

# KEYS: idx (zset of bucket ids), buckets (hash "<id>:n|c|usd"), state (hash: running window
# totals n/c/usd; mu and its version; the slice since the last mu step sn/sc/susd/st; first =
# time of the first record). ARGV: oldest bucket id to drop (inclusive), now, TTL ms, then
# (id, n, c, usd) per bucket. Adds the buckets, subtracts expired ones, returns the state.
_FLUSH_LUA = """
local idx, buckets, state = KEYS[1], KEYS[2], KEYS[3]
local oldest = tonumber(ARGV[1])
redis.call('HSETNX', state, 'st', ARGV[2])
for i = 4, #ARGV, 4 do
  local id = ARGV[i]
  local n, c, usd = tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2]), ARGV[i + 3]
  if tonumber(id) > oldest then
    redis.call('ZADD', idx, id, id)
    redis.call('HINCRBY', buckets, id .. ':n', n)
    redis.call('HINCRBY', buckets, id .. ':c', c)
    redis.call('HINCRBYFLOAT', buckets, id .. ':usd', usd)
    redis.call('HSETNX', state, 'first', ARGV[2])
  end
  -- a late bucket still counts towards the next step, not towards the window
  redis.call('HINCRBY', state, 'n', n)
  redis.call('HINCRBY', state, 'c', c)
  redis.call('HINCRBYFLOAT', state, 'usd', usd)
  redis.call('HINCRBY', state, 'sn', n)
  redis.call('HINCRBY', state, 'sc', c)
  redis.call('HINCRBYFLOAT', state, 'susd', usd)
end
for _, id in ipairs(redis.call('ZRANGEBYSCORE', idx, '-inf', oldest)) do
  local got = redis.call('HMGET', buckets, id .. ':n', id .. ':c', id .. ':usd')
  redis.call('HINCRBY', state, 'n', -tonumber(got[1] or '0'))
  redis.call('HINCRBY', state, 'c', -tonumber(got[2] or '0'))
  redis.call('HINCRBYFLOAT', state, 'usd', -tonumber(got[3] or '0'))
  redis.call('HDEL', buckets, id .. ':n', id .. ':c', id .. ':usd')
end
redis.call('ZREMRANGEBYSCORE', idx, '-inf', oldest)
-- an abandoned budget (every replica gone) expires after two windows
for _, key in ipairs(KEYS) do redis.call('PEXPIRE', key, ARGV[3]) end
return redis.call('HMGET', state, 'n', 'c', 'usd', 'first', 'mu', 'version',
                  'sn', 'sc', 'susd', 'st')
"""

# KEYS as above. ARGV: expected version, new mu, the slice the step used (n, c, usd), now.
# Compare-and-set on the version: exactly one replica takes each step; the slice it used is
# subtracted, so counts flushed in between carry over to the next step.
_STEP_LUA = """
local state = KEYS[3]
if tonumber(redis.call('HGET', state, 'version') or '0') ~= tonumber(ARGV[1]) then
  return 0
end
redis.call('HSET', state, 'mu', ARGV[2], 'st', ARGV[6])
redis.call('HINCRBY', state, 'version', 1)
redis.call('HINCRBY', state, 'sn', -tonumber(ARGV[3]))
redis.call('HINCRBY', state, 'sc', -tonumber(ARGV[4]))
redis.call('HINCRBYFLOAT', state, 'susd', -tonumber(ARGV[5]))
return 1
"""


class BudgetController:
    """The budget multiplier μ for the threshold, and the window it is computed from.

    ``record(route, cost_usd, now)``: ``route`` is ``"edge"`` or ``"cloud"`` for an answered
    request, ``"shadow"`` for a background shadow call (its cost counts, it is not a request).
    With no budget target set, μ stays 0 and the window is only reported.
    """

    def __init__(
        self,
        settings: Settings,
        metrics: GatewayMetrics | None = None,
        redis: Redis | None = None,
        *,
        clock: Callable[[], float] = time.time,
        key_prefix: str = "netgpt:budget",
        flush_interval_s: float = FLUSH_INTERVAL_S,
    ) -> None:
        b = settings.budget
        self.settings = settings
        self.metrics = metrics
        self.clock = clock
        self.target_share = b.target_cloud_share
        self.target_spend = b.spend_per_hour_usd
        self.window_s = b.window_s
        self.width = b.window_s / BUCKETS
        self.flush_interval_s = flush_interval_s
        self._mu = 0.0
        self._steps = 0
        self._mean_cost: float | None = None  # last known, for steps while nothing goes to cloud
        # local mode: the window, and the slice since the last step [n, c, usd, start]
        self._window = ShareWindow(b.window_s, BUCKETS)
        self._slice: list[float] | None = None
        # shared mode
        self._redis = redis
        self._own_redis = False
        self._shared = redis is not None or settings.redis_url is not None
        self._keys = [f"{key_prefix}:idx", f"{key_prefix}:buckets", f"{key_prefix}:state"]
        self._buffer: dict[int, list[float]] = {}  # bucket id -> [n, c, usd]
        self._totals = WindowTotals(0, 0, 0.0, 0.0)
        self._task: asyncio.Task[None] | None = None
        self._flush_script: Any = None
        self._step_script: Any = None
        self._redis_ok = True
        self._synced_at: float | None = None

    @property
    def enabled(self) -> bool:
        return self.target_share is not None or bool(self.target_spend)

    @property
    def shared(self) -> bool:
        return self._shared

    # ---- request path (no I/O) -----------------------------------------------------------------

    def multiplier(self) -> float:
        return self._mu

    def record(self, route: str, cost_usd: float = 0.0, now: float | None = None) -> None:
        now = self.clock() if now is None else now
        count = 0 if route == "shadow" else 1
        cloud = count if route == "cloud" else 0
        cost = max(cost_usd, 0.0) if math.isfinite(cost_usd) else 0.0
        if self._shared:
            slot = self._buffer.setdefault(math.floor(now / self.width), [0, 0, 0.0])
            slot[0] += count
            slot[1] += cloud
            slot[2] += cost
            return
        self._window.add(now, bool(cloud), cost, count)
        if self._slice is None:
            self._slice = [0, 0, 0.0, now]
        self._slice[0] += count
        self._slice[1] += cloud
        self._slice[2] += cost
        if self._slice[0] >= self.settings.budget.update_every:
            n, c, usd, start = self._slice
            self._slice = [0, 0, 0.0, now]
            self._totals = self._window.totals(now)
            mu = self._next_mu(WindowTotals(int(n), int(c), usd, now - start), self._totals)
            if mu is not None:
                self._mu = mu
                self._steps += 1
            self._export()

    def exhausted(self, now: float | None = None) -> bool:
        """True when the window is at or over the budget (skip optional cloud calls: shadow)."""
        totals = self._current_totals(now)
        error = budget_error(totals, self.target_share, self.target_spend)
        return error is not None and totals.requests > 0 and error[0] >= error[1]

    def _current_totals(self, now: float | None) -> WindowTotals:
        if self._shared:
            return self._totals
        return self._window.totals(self.clock() if now is None else now)

    def _next_mu(self, batch: WindowTotals, window: WindowTotals) -> float | None:
        found = mean_cost(window.spend_usd, window.cloud)
        if found is not None:
            self._mean_cost = found
        b = self.settings.budget
        # a slice shorter than a second would turn a few cents into a huge hourly rate
        batch = WindowTotals(batch.requests, batch.cloud, batch.spend_usd, max(batch.span_s, 1.0))
        return dual_step(
            self._mu,
            batch,
            target_share=self.target_share,
            spend_per_hour=self.target_spend,
            step=b.step_size,
            mu_max=b.multiplier_max,
            mean_cost_usd=self._mean_cost,
        )

    # ---- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Shared mode: connect (unless a client was given) and start the sync task."""
        if not self._shared or self._task is not None:
            return
        if self._redis is None:
            assert self.settings.redis_url is not None
            self._redis = Redis.from_url(self.settings.redis_url)
            self._own_redis = True
        self._flush_script = self._redis.register_script(_FLUSH_LUA)
        self._step_script = self._redis.register_script(_STEP_LUA)
        await self.sync()
        self._task = asyncio.create_task(self._loop(), name="budget-sync")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            await cancel_and_wait([task])
            await self.sync()  # hand the last counts to the other replicas
        if self._own_redis and self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval_s)
            try:
                await self.sync()
            except Exception:  # a bug here must not freeze μ for the process's lifetime
                log.exception("budget: sync failed; retrying")

    async def sync(self) -> None:
        """Flush buffered counts to Redis, read the shared window and μ back, and take a dual
        ascent step when one is due. Never raises: on a Redis error the counts stay buffered
        and μ keeps its last value."""
        if not self._shared or self._flush_script is None:
            return
        now = self.clock()
        oldest = math.floor((now - self.window_s) / self.width)
        buffer, self._buffer = self._buffer, {}
        args: list[float | int | str] = [oldest, repr(now), max(int(self.window_s * 2000), 1000)]
        for bucket, (n, c, usd) in buffer.items():
            args += [bucket, int(n), int(c), repr(usd)]
        try:
            reply = await self._flush_script(keys=self._keys, args=args)
            version, batch = self._apply(reply, now)
            if self.enabled and batch.requests >= self.settings.budget.update_every:
                await self._shared_step(version, batch, now)
        except (RedisError, OSError) as exc:
            self._keep(buffer, oldest)
            if self._redis_ok:
                log.warning(
                    "budget: Redis unreachable (%s); keeping the last mu", type(exc).__name__
                )
            self._redis_ok = False
            return
        if not self._redis_ok:
            log.info("budget: Redis reachable again")
        self._redis_ok = True
        self._synced_at = now

    def _keep(self, buffer: dict[int, list[float]], oldest: int) -> None:
        for bucket, counts in buffer.items():
            if bucket > oldest:  # older counts would fall out of the window anyway
                slot = self._buffer.setdefault(bucket, [0, 0, 0.0])
                for i in range(3):
                    slot[i] += counts[i]

    def _apply(self, reply: list[Any], now: float) -> tuple[int, WindowTotals]:
        n, c, usd, first, mu, version, sn, sc, susd, st = reply
        first_t = float(first) if first is not None else now
        span = min(self.window_s, max(now - first_t, self.width))
        self._totals = WindowTotals(int(n or 0), int(c or 0), max(float(usd or 0.0), 0.0), span)
        self._mu = float(mu) if mu is not None else 0.0
        self._export()
        slice_start = float(st) if st is not None else now
        batch = WindowTotals(
            int(sn or 0), int(sc or 0), max(float(susd or 0.0), 0.0), now - slice_start
        )
        return int(version or 0), batch

    async def _shared_step(self, version: int, batch: WindowTotals, now: float) -> None:
        mu = self._next_mu(batch, self._totals)
        if mu is None:
            return
        args = [version, repr(mu), batch.requests, batch.cloud, repr(batch.spend_usd), repr(now)]
        if int(await self._step_script(keys=self._keys, args=args)):
            self._mu = mu
            self._steps += 1
            self._export()

    # ---- reporting -----------------------------------------------------------------------------

    def _export(self) -> None:
        if self.metrics is not None:
            self.metrics.budget_multiplier.set(self._mu)
            self.metrics.budget_cloud_share.set(self._totals.cloud_share)

    def state(self) -> dict[str, Any]:
        """μ and the window, for ``GET /v1/router/state``."""
        now = self.clock()
        totals = self._current_totals(now)
        return {
            "multiplier": self._mu,
            "cloud_share": totals.cloud_share,
            "spend_per_hour": totals.spend_per_hour,
            "target_cloud_share": self.target_share,
            "spend_per_hour_usd": self.target_spend,  # the spend target (NETGPT_BUDGET_SPEND_PER_HOUR_USD)
            "window_s": self.window_s,
            "requests": totals.requests,
            "cloud_requests": totals.cloud,
            "spend_usd": totals.spend_usd,
            "exhausted": self.exhausted(now),
            "shared": self._shared,
            "store_reachable": self._redis_ok,
            "last_sync_age_s": None if self._synced_at is None else max(now - self._synced_at, 0.0),
            "steps": self._steps,
        }
