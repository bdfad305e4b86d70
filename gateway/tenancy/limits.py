"""Per-key limits: requests and tokens per minute, and a cloud budget per period.

Pure decision code (time is passed in). The Redis adapter (``gateway.tenancy.limiter``) runs
the same arithmetic in one Lua script so replicas share the state; the in-process limiter calls
these functions directly.

- **Requests per minute**: a token bucket of ``rpm`` tokens refilled at ``rpm/60`` per second;
  a request takes one token.
- **Tokens per minute**: a bucket of ``tpm`` tokens refilled at ``tpm/60`` per second. The
  tokens a request uses are only known once it is answered, so admission needs a positive
  level and the answer's tokens are charged afterwards; the level may go negative (down to
  ``-tpm``), which holds the next requests back until the debt is refilled.
- **Budget**: USD spent in the current fixed period (``floor(now / period)``, aligned to the
  Unix epoch, so a day is a UTC day); admission needs ``spent < budget``.

A refusal carries ``retry_after_s``: when the limit that refused will admit again.

    >>> lv, _ = refill(0.0, 0.0, 30.0, capacity=60, per_minute=60)
    >>> lv
    30.0
    >>> admit(KeyLimits(rpm=1), LimitState(rq_level=0.0, rq_at=0.0), now=30.0).limit
    'requests'
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

REQUESTS = "requests"
TOKENS = "tokens"
BUDGET = "budget"


@dataclass(frozen=True, slots=True)
class KeyLimits:
    """A key's limits; ``None`` means unlimited."""

    rpm: int | None = None
    tpm: int | None = None
    budget_usd: float | None = None
    budget_period_s: int = 86_400

    @property
    def unlimited(self) -> bool:
        return self.rpm is None and self.tpm is None and self.budget_usd is None


@dataclass(slots=True)
class LimitState:
    """One key's counters. A fresh key starts with full buckets (``None``)."""

    rq_level: float | None = None
    rq_at: float = 0.0
    tk_level: float | None = None
    tk_at: float = 0.0
    spent: dict[int, float] = field(default_factory=dict)  # period id -> USD


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    limit: str | None = None  # REQUESTS, TOKENS or BUDGET when refused
    retry_after_s: float = 0.0


ALLOWED = Verdict(True)


def refill(
    level: float | None, at: float, now: float, *, capacity: float, per_minute: float
) -> tuple[float, float]:
    """The bucket's level at ``now``: ``min(capacity, level + rate·elapsed)``; full when new."""
    if level is None:
        return float(capacity), now
    elapsed = max(now - at, 0.0)
    return min(float(capacity), level + elapsed * per_minute / 60.0), now


def period_id(now: float, period_s: int) -> int:
    return int(now // period_s)


def seconds_to_period_end(now: float, period_s: int) -> float:
    return (period_id(now, period_s) + 1) * period_s - now


def _wait(deficit: float, per_minute: float) -> float:
    return max(deficit, 0.0) * 60.0 / per_minute


def admit(limits: KeyLimits, state: LimitState, now: float) -> Verdict:
    """Decide one request and, when it is allowed, take its request token from ``state``.

    Checked in order budget, tokens, requests: a refused request takes nothing."""
    if limits.budget_usd is not None:
        spent = state.spent.get(period_id(now, limits.budget_period_s), 0.0)
        if spent >= limits.budget_usd:
            return Verdict(False, BUDGET, seconds_to_period_end(now, limits.budget_period_s))
    if limits.tpm is not None:
        level, at = refill(state.tk_level, state.tk_at, now, capacity=limits.tpm, per_minute=limits.tpm)
        state.tk_level, state.tk_at = level, at
        if level <= 0:
            # a level of exactly 0 admits again as soon as a fraction of a token is back
            return Verdict(False, TOKENS, max(_wait(-level, limits.tpm), 60.0 / limits.tpm))
    if limits.rpm is not None:
        level, at = refill(state.rq_level, state.rq_at, now, capacity=limits.rpm, per_minute=limits.rpm)
        if level < 1.0:
            state.rq_level, state.rq_at = level, at
            return Verdict(False, REQUESTS, _wait(1.0 - level, limits.rpm))
        state.rq_level, state.rq_at = level - 1.0, at
    return ALLOWED


def charge(limits: KeyLimits, state: LimitState, now: float, tokens: int, usd: float) -> None:
    """Book what an answered request used: its tokens and its cloud cost."""
    if limits.tpm is not None and tokens > 0:
        level, at = refill(state.tk_level, state.tk_at, now, capacity=limits.tpm, per_minute=limits.tpm)
        state.tk_level, state.tk_at = max(level - tokens, -float(limits.tpm)), at
    if limits.budget_usd is not None and usd > 0:
        current = period_id(now, limits.budget_period_s)
        state.spent = {current: state.spent.get(current, 0.0) + usd}  # older periods are done


def retry_after_header(seconds: float) -> str:
    """``Retry-After`` in whole seconds, at least 1 (RFC 9110: a non-negative integer)."""
    if not math.isfinite(seconds):
        return "60"
    return str(max(1, math.ceil(seconds)))
