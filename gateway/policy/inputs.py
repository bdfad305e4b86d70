"""The live side of routing: gathers the inputs of the pure threshold for one request.

``LiveInputs`` reads the network snapshot, the price now, the budget multiplier μ and the
score calibration, and hands them to the pure functions of ``gateway.routing``. It does no I/O on
the request path: network estimates, μ and the calibration are refreshed in the background.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from gateway.config import Settings
from gateway.ports import NetworkView
from gateway.routing.pricing import PriceFn, Prices, flat_prices
from gateway.routing.state import LinkEstimate, NetworkState
from gateway.routing.threshold import (
    BYTES_PER_TOKEN,
    CloudCallEstimate,
    ThresholdParams,
    ThresholdTerms,
    expected_cost_usd,
    threshold_terms,
)


class LiveInputs:
    """The network snapshot, price, μ and calibration in force, read without I/O."""

    def __init__(
        self,
        settings: Settings,
        network: NetworkView,
        *,
        calibrator: Callable[[float], float] | None = None,
        prices: PriceFn | None = None,
        multiplier: Callable[[], float] | None = None,
    ) -> None:
        r = settings.routing
        self.settings = settings
        self.network = network
        self.params = ThresholdParams(r.q_cloud, r.lambda_latency, r.lambda_cost)
        self.calibrator = calibrator
        c = settings.cloud
        self._prices = prices or flat_prices(c.price_input_per_mtok, c.price_output_per_mtok)
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
