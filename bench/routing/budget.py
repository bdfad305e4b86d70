"""Dual ascent on the budget multiplier μ, through the gateway's ``gateway.routing.budget``.

Every ``every`` requests μ takes one projected step of ``next_multiplier`` on the cloud share of
the requests since the last step (the gateway steps on the newest slice, not the whole window),
scaled by one over the mean cost of a cloud call, so a step of η moves τ by about η × error.
Pure: the caller feeds routes in and reads μ out.
"""

from __future__ import annotations

from gateway.routing.budget import next_multiplier


class DualAscent:
    def __init__(
        self,
        target_share: float,
        cost_ref_usd: float,
        *,
        step: float = 0.5,
        every: int = 20,
        mu_max: float = 1e6,
    ) -> None:
        if not 0.0 <= target_share <= 1.0:
            raise ValueError("target share must be in [0, 1]")
        self.target = target_share
        self.step = step
        self.scale = 1.0 / max(cost_ref_usd, 1e-12)
        self.every = every
        self.mu_max = mu_max
        self.mu = 0.0
        self._cloud = 0
        self._seen = 0

    def observe(self, to_cloud: bool) -> float:
        """Record one route; returns μ for the next request."""
        self._cloud += int(to_cloud)
        self._seen += 1
        if self._seen >= self.every:
            share = self._cloud / self._seen
            self.mu = next_multiplier(
                self.mu, share, self.target, self.step, self.mu_max, scale=self.scale
            )
            self._cloud = self._seen = 0
        return self.mu
