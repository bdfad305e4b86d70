"""Dual ascent on μ, the sliding window, and the budget settling in a routing simulation."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.routing.budget import (
    ShareWindow,
    WindowTotals,
    budget_error,
    dual_step,
    next_multiplier,
)
from gateway.routing.decision import decide
from gateway.routing.state import LinkEstimate
from gateway.routing.threshold import (
    CloudCallEstimate,
    ThresholdParams,
    expected_cost_usd,
    threshold,
)


@given(
    st.floats(0, 1e4),
    st.floats(0, 1),
    st.floats(0, 1),
    st.floats(0.01, 5),
    st.floats(1, 1e5),
    st.floats(1, 1e4),
)
def test_next_multiplier_moves_against_the_error_and_stays_in_bounds(
    mu, observed, target, step, mu_max, scale
) -> None:
    nxt = next_multiplier(mu, observed, target, step, mu_max, scale=scale)
    assert 0.0 <= nxt <= mu_max
    if observed > target:
        assert nxt >= min(mu, mu_max)
    elif observed < target:
        assert nxt <= mu


def test_budget_error_share_spend_and_none() -> None:
    totals = WindowTotals(requests=100, cloud=30, spend_usd=0.5, span_s=1800)
    assert budget_error(totals, 0.2, None) == (0.3, 0.2)
    assert budget_error(totals, None, 0.5) == pytest.approx((2.0, 1.0))  # $1/h against $0.5/h
    assert budget_error(totals, None, None) is None
    assert (
        dual_step(
            3.0,
            totals,
            target_share=None,
            spend_per_hour=None,
            step=1,
            mu_max=10,
            mean_cost_usd=None,
        )
        is None
    )


def test_share_window_expires_old_buckets() -> None:
    window = ShareWindow(window_s=60, buckets=60)
    for i in range(60):
        window.add(1000.0 + i, cloud=i % 2 == 0, cost_usd=0.01)
    totals = window.totals(1059.5)
    assert (totals.requests, totals.cloud) == (60, 30)
    assert totals.spend_usd == pytest.approx(0.6)
    later = window.totals(1089.5)  # the first 30 s have left the window
    assert later.requests == 30
    assert later.spend_usd == pytest.approx(0.3)
    assert window.totals(2000.0).requests == 0


def _simulate(seed: int, target: float | None, n: int = 2000) -> tuple[list[bool], float]:
    """Route n requests whose unconstrained cloud share is 0.5, with μ by dual ascent every
    20 requests; returns the cloud decisions and the final μ."""
    rng = random.Random(seed)
    params = ThresholdParams(q_cloud=0.95, lambda_latency=0.1, lambda_cost=20.0)
    link = LinkEstimate(0.05, 12.5e6)
    price_in, price_out = 0.15e-6, 0.60e-6

    def call(nbytes: int) -> CloudCallEstimate:
        cost = expected_cost_usd(nbytes / 4, 150, price_in, price_out)
        return CloudCallEstimate(nbytes + 1500, 1.0, cost)

    tau0 = threshold(params, link, call(2000))
    window = ShareWindow(300.0)
    mu, now = 0.0, 0.0
    batch = [0, 0, 0.0, now]
    decisions: list[bool] = []
    for _ in range(n):
        now += rng.expovariate(10.0)
        nbytes = rng.randint(1000, 3000)
        # half the scores fall below the unconstrained τ
        s = rng.uniform(0, tau0) if rng.random() < 0.5 else rng.uniform(tau0, 1.0)
        tau = threshold(params, link, call(nbytes), mu)
        cloud = decide(score=s, tau=tau, schema_valid=True).route == "cloud"
        cost = call(nbytes).cost_usd if cloud else 0.0
        window.add(now, cloud, cost)
        decisions.append(cloud)
        batch[0] += 1
        batch[1] += cloud
        batch[2] += cost
        if batch[0] == 20:
            totals = window.totals(now)
            mean = totals.spend_usd / totals.cloud if totals.cloud else None
            step = WindowTotals(int(batch[0]), int(batch[1]), batch[2], now - batch[3])
            new = dual_step(
                mu,
                step,
                target_share=target,
                spend_per_hour=None,
                step=0.5,
                mu_max=1e6,
                mean_cost_usd=mean,
            )
            mu = mu if new is None else new
            batch = [0, 0, 0.0, now]
    return decisions, mu


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_cloud_share_settles_at_rho_over_2000_requests(seed: int) -> None:
    free, mu_free = _simulate(seed, target=None)
    assert 0.45 <= sum(free) / len(free) <= 0.55  # the unconstrained mix
    assert mu_free == 0.0
    decisions, mu = _simulate(seed, target=0.2)
    overall = sum(decisions) / len(decisions)
    settled = sum(decisions[1000:]) / 1000
    print(
        f"seed {seed}: cloud share over 2000 = {overall:.3f}, last 1000 = {settled:.3f}, mu = {mu:.0f}"
    )
    assert abs(overall - 0.2) <= 0.03
    assert abs(settled - 0.2) <= 0.03
    assert mu > 0
