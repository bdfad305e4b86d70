"""Per-target estimates: EWMAs, failure rate, staleness with time passed in."""

from __future__ import annotations

import pytest

from gateway.network.estimator import Ewma, Fallbacks, LinkEstimator


def _estimator(**kw) -> LinkEstimator:
    args = {
        "fast_alpha": 0.5,
        "slow_alpha": 0.1,
        "stale_after_s": 10.0,
        "fallbacks": Fallbacks(0.3, 250_000.0),
    }
    args.update(kw)
    return LinkEstimator(**args)


def test_ewma_first_sample_then_smoothing() -> None:
    ewma = Ewma(0.5)
    assert ewma.update(10.0) == 10.0
    assert ewma.update(20.0) == 15.0
    assert ewma.update(20.0) == 17.5


def test_no_sample_is_stale_with_conservative_values() -> None:
    est = _estimator().estimate(now=100.0)
    assert est.stale
    assert (est.rtt_s, est.bandwidth_bytes_per_s) == (0.3, 250_000.0)
    assert est.age_s is None


def test_fresh_then_stale_after_the_set_age() -> None:
    e = _estimator()
    e.observe_rtt(0.05, now=100.0)
    e.observe_bandwidth(2e6, now=100.0)
    fresh = e.estimate(now=105.0)
    assert not fresh.stale
    assert fresh.rtt_s == 0.05 and fresh.bandwidth_bytes_per_s == 2e6
    assert fresh.age_s == pytest.approx(5.0)
    stale = e.estimate(now=110.5)
    assert stale.stale
    assert stale.rtt_s == 0.3 and stale.bandwidth_bytes_per_s == 250_000.0
    e.observe_rtt(0.06, now=111.0)  # fresh again at the next probe
    assert not e.estimate(now=111.0).stale


def test_fast_follows_a_change_slow_lags() -> None:
    e = _estimator()
    for t in range(20):
        e.observe_rtt(0.05, now=float(t))
    for t in range(20, 24):
        e.observe_rtt(0.15, now=float(t))
    est = e.estimate(now=24.0)
    assert est.rtt_s == pytest.approx(0.15 - 0.1 / 16)
    assert est.rtt_slow_s is not None and est.rtt_slow_s < 0.1


def test_bandwidth_without_fresh_sample_uses_the_fallback_but_link_stays_fresh() -> None:
    e = _estimator(bandwidth_stale_after_s=30.0)
    e.observe_bandwidth(5e6, now=0.0)
    e.observe_rtt(0.02, now=40.0)
    est = e.estimate(now=40.0)
    assert not est.stale
    assert est.bandwidth_bytes_per_s == 250_000.0
    assert e.details(40.0)["bandwidth_measured"] is False


def test_failure_rate_and_compute() -> None:
    e = _estimator()
    e.observe_rtt(0.05, now=0.0)
    for _ in range(5):
        e.observe_failure()
    e.observe_compute(0.8, now=0.0)
    est = e.estimate(now=1.0)
    assert est.failure_rate == pytest.approx(1 - 0.9**5)
    assert est.compute_s == 0.8
    assert e.details(1.0)["probe_failures"] == 5
