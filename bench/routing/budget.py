"""Dual ascent on the budget multiplier μ, as the gateway enforces a target cloud share ρ.

Every ``every`` requests μ moves by the gap between the cloud share over the last ``window``
requests and ρ. The step is taken in threshold units (``step`` per unit of share gap) and turned
into μ by dividing by a reference cloud cost, because μ multiplies a cost in dollars in τ(z).
Pure: the caller feeds routes in and reads μ out.
"""

from __future__ import annotations

from collections import deque


class DualAscent:
    def __init__(
        self,
        target_share: float,
        cost_ref_usd: float,
        *,
        step: float = 0.5,
        every: int = 20,
        window: int = 100,
        mu_max: float = 1e6,
    ) -> None:
        if not 0.0 <= target_share <= 1.0:
            raise ValueError("target share must be in [0, 1]")
        self.target = target_share
        self.scale = step / max(cost_ref_usd, 1e-12)
        self.every = every
        self.mu_max = mu_max
        self.mu = 0.0
        self._routes: deque[bool] = deque(maxlen=window)
        self._since = 0

    def observe(self, to_cloud: bool) -> float:
        """Record one route; returns μ for the next request."""
        self._routes.append(to_cloud)
        self._since += 1
        if self._since >= self.every:
            self._since = 0
            share = sum(self._routes) / len(self._routes)
            self.mu = min(self.mu_max, max(0.0, self.mu + self.scale * (share - self.target)))
        return self.mu
