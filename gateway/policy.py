"""The live side of routing: gathers the inputs of the pure threshold for one request.

``RoutingPolicy`` reads the network snapshot, the price now, the budget multiplier μ and the
score calibration, and hands them to the pure functions of ``gateway.routing``. It does no I/O on
the request path: network estimates, μ and the calibration are refreshed in the background.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import NamedTuple

from gateway.config import Settings
from gateway.ports import NetworkView
from gateway.routing.state import LinkEstimate, NetworkState
from gateway.routing.threshold import (
    CloudCallEstimate,
    ThresholdParams,
    ThresholdTerms,
    expected_cost_usd,
    threshold_terms,
)

# bytes per token of JSON chat text, for turning request bytes into an input-token estimate
BYTES_PER_TOKEN = 4.0


class Prices(NamedTuple):
    """USD per token, now: ``(input, output)``, the pair ``cloud_adapter``'s price callables
    return, so one callable serves both the threshold and the cost."""

    input: float
    output: float


def flat_prices(settings: Settings) -> Callable[[float], Prices]:
    """The same price at every time, from the settings' per-million-token prices."""
    c = settings.cloud
    flat = Prices(c.price_input_per_mtok / 1e6, c.price_output_per_mtok / 1e6)
    return lambda _now: flat


class StaticNetwork:
    """A NetworkView with fixed estimates from settings (used when live probes are off)."""

    def __init__(self, cloud: LinkEstimate, edge: LinkEstimate | None = None) -> None:
        self._state = NetworkState(cloud=cloud, edge=edge or LinkEstimate(0.001, 1e9))

    def snapshot(self) -> NetworkState:
        return self._state

    def observe_transfer(self, target: str, nbytes: int, transfer_s: float) -> None:  # noqa: ARG002
        return None

    def observe_compute(self, target: str, seconds: float) -> None:  # noqa: ARG002
        return None


class RoutingPolicy:
    def __init__(
        self,
        settings: Settings,
        network: NetworkView,
        *,
        calibrator: Callable[[float], float] | None = None,
        prices: Callable[[float], Prices] | None = None,
        multiplier: Callable[[], float] | None = None,
    ) -> None:
        r = settings.routing
        self.settings = settings
        self.network = network
        self.params = ThresholdParams(r.q_cloud, r.lambda_latency, r.lambda_cost)
        self.calibrator = calibrator
        self._prices = prices or flat_prices(settings)
        self._multiplier = multiplier or (lambda: 0.0)
        self._stale = LinkEstimate(r.stale_rtt_s, r.stale_bandwidth_bytes_per_s, stale=True)

    def active_calibrator(self) -> Callable[[float], float] | None:
        """The calibration in force; None while nothing is fitted (the live holder has no fit)."""
        cal = self.calibrator
        return cal if cal is not None and getattr(cal, "fitted", True) else None

    def prices(self, now: float | None = None) -> Prices:
        return self._prices(time.time() if now is None else now)

    @property
    def mu(self) -> float:
        return self._multiplier()

    def cloud_link(self, state: NetworkState) -> LinkEstimate:
        return self._stale if state.cloud.stale else state.cloud

    def threshold_for(
        self, request_bytes: int, state: NetworkState | None = None, now: float | None = None
    ) -> ThresholdTerms:
        r = self.settings.routing
        state = state or self.network.snapshot()
        link = self.cloud_link(state)
        price = self.prices(now)
        cost = expected_cost_usd(
            request_bytes / BYTES_PER_TOKEN, r.expected_output_tokens, price.input, price.output
        )
        compute = link.compute_s if link.compute_s is not None else r.cloud_compute_s
        call = CloudCallEstimate(request_bytes + r.expected_response_bytes, compute, cost)
        return threshold_terms(self.params, link, call, self.mu)

    def cost_usd(self, input_tokens: int, output_tokens: int, now: float | None = None) -> float:
        price = self.prices(now)
        return expected_cost_usd(input_tokens, output_tokens, price.input, price.output)
