"""Budget by dual ascent on the multiplier μ (ARCHITECTURE.md, "Budget").

The threshold subtracts ``(λ_$ + μ)·cost`` from τ, so a larger μ lowers τ and sends fewer
requests to the cloud. μ is the dual variable of the constraint "cloud share ≤ ρ" (or "spend per
hour ≤ B") over a sliding window; projected dual ascent raises it while the requests since the
last step overshoot the target and lowers it (never below 0) while they undershoot:

    μ ← clip( μ + η·scale·(observed − target), 0, μ_max )

``scale`` turns the dimensionless error into μ's units (quality per dollar): with
``scale = 1 / mean cost of a cloud call`` one step of η moves τ by about η·error, whatever the
model's price, so one step size works for cheap and expensive models alike.

Everything here is pure: time is passed in, and :class:`ShareWindow` keeps per-bucket counts
in memory for the local store and for simulations.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

# below this the mean cost is treated as "free": μ then has no effect on τ anyway
_MIN_COST = 1e-12


def next_multiplier(
    mu: float, observed: float, target: float, step: float, mu_max: float, *, scale: float = 1.0
) -> float:
    """One projected dual-ascent step.

    >>> next_multiplier(0.0, 0.5, 0.2, 0.5, 100.0, scale=10.0)
    1.5
    >>> next_multiplier(1.0, 0.0, 0.2, 0.5, 100.0, scale=10.0)
    0.0
    """
    value = mu + step * scale * (observed - target)
    if not math.isfinite(value):
        return mu_max if value > 0 else 0.0
    return min(mu_max, max(0.0, value))


def mean_cost(spend_usd: float, cloud_requests: int) -> float | None:
    """Mean cost of a cloud call (None when nothing was spent)."""
    if cloud_requests <= 0 or spend_usd <= _MIN_COST:
        return None
    return spend_usd / cloud_requests


@dataclass(frozen=True, slots=True)
class WindowTotals:
    """What happened in the budget window."""

    requests: int
    cloud: int
    spend_usd: float
    span_s: float  # how much of the window has data behind it (≤ window length)

    @property
    def cloud_share(self) -> float:
        return self.cloud / self.requests if self.requests else 0.0

    @property
    def spend_per_hour(self) -> float:
        return self.spend_usd * 3600.0 / self.span_s if self.span_s > 0 else 0.0


def budget_error(
    totals: WindowTotals, target_share: float | None, spend_per_hour: float | None
) -> tuple[float, float] | None:
    """(observed, target) for :func:`next_multiplier`, or None when no budget is set.

    A spend target is compared relative to itself (observed/B against 1), so its error is
    dimensionless like a share's.
    """
    if target_share is not None:
        return totals.cloud_share, target_share
    if spend_per_hour:
        return totals.spend_per_hour / spend_per_hour, 1.0
    return None


def dual_step(
    mu: float,
    batch: WindowTotals,
    *,
    target_share: float | None,
    spend_per_hour: float | None,
    step: float,
    mu_max: float,
    mean_cost_usd: float | None,
) -> float | None:
    """The next μ from the requests since the last step (None: no budget is set).

    The step uses the newest slice of the window, not the whole window: the window average is
    itself an integral of past decisions, and integrating it again makes μ overshoot and swing
    for as long as the window is long. The slice is an unbiased (if noisy) gradient of the
    constraint, so the long-run share, and hence the window's, converges to the target.
    """
    error = budget_error(batch, target_share, spend_per_hour)
    if error is None:
        return None
    scale = 1.0 / mean_cost_usd if mean_cost_usd and mean_cost_usd > _MIN_COST else 1.0
    return next_multiplier(mu, error[0], error[1], step, mu_max, scale=scale)


class ShareWindow:
    """Requests, cloud requests and spend over a sliding window, in fixed-width time buckets.

    Memory is bounded by the number of buckets; ``add`` and ``totals`` are O(expired buckets).
    """

    def __init__(self, window_s: float, buckets: int = 60) -> None:
        self.window_s = window_s
        self.width = window_s / buckets
        self._buckets: deque[list[float]] = deque()  # [bucket id, requests, cloud, usd]
        self._requests = 0
        self._cloud = 0
        self._usd = 0.0
        self._first: float | None = None

    def _bucket(self, now: float) -> int:
        return math.floor(now / self.width)

    def _expire(self, now: float) -> None:
        oldest = self._bucket(now - self.window_s)
        while self._buckets and self._buckets[0][0] <= oldest:
            _, n, c, usd = self._buckets.popleft()
            self._requests -= int(n)
            self._cloud -= int(c)
            self._usd -= usd

    def add(self, now: float, cloud: bool, cost_usd: float = 0.0, count: int = 1) -> None:
        if self._first is None:
            self._first = now
        bucket = self._bucket(now)
        if not self._buckets or self._buckets[-1][0] < bucket:
            self._buckets.append([bucket, 0, 0, 0.0])
        last = self._buckets[-1]  # a late sample joins the newest bucket
        last[1] += count
        last[2] += count if cloud else 0
        last[3] += cost_usd
        self._requests += count
        self._cloud += count if cloud else 0
        self._usd += cost_usd
        self._expire(now)

    def totals(self, now: float) -> WindowTotals:
        self._expire(now)
        # at least one bucket of span, so the first seconds don't extrapolate to a huge rate
        span = (
            0.0 if self._first is None else min(self.window_s, max(now - self._first, self.width))
        )
        # float drift from subtracting expired spend can leave -1e-18
        return WindowTotals(self._requests, self._cloud, max(self._usd, 0.0), span)
