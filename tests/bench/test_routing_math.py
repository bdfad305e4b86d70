from __future__ import annotations

import numpy as np
import pytest

from bench.common.costs import price_factor
from bench.routing.analysis import (
    Saving,
    best_cost_at,
    monotonicity_violations,
    share_by_bins,
    verdict,
)
from bench.routing.budget import DualAscent
from bench.routing.signal import auc, draw_confidence, edge_scores


def test_simulated_confidence_has_the_requested_auc():
    rng = np.random.default_rng(1)
    labels = rng.random(20_000) < 0.7
    for target in (0.6, 0.8, 0.95):
        assert auc(draw_confidence(labels, target, rng), labels) == pytest.approx(target, abs=0.015)


def test_schema_invalid_drafts_score_zero_through_the_gateway_score():
    scores = edge_scores(np.array([True, False]), np.array([0.9, 0.9]), np.array([1, 1]), None)
    assert scores[0] == pytest.approx(0.9) and scores[1] == 0.0


def test_dual_ascent_holds_the_cloud_share_near_its_target():
    rng = np.random.default_rng(3)
    controller = DualAscent(0.2, cost_ref_usd=0.001, step=0.5, every=20)
    routes = []
    for _ in range(4000):
        tau = 0.9 - controller.mu * 0.001  # τ = q − μ·cost
        cloud = rng.random() < tau  # a uniform score below τ falls back
        routes.append(cloud)
        controller.observe(cloud)
    assert np.mean(routes[2000:]) == pytest.approx(0.2, abs=0.04)
    assert controller.mu > 0


def test_best_cost_mixes_two_operating_points():
    points = [(0.8, 0.0), (0.9, 1.0), (0.85, 0.8)]
    assert best_cost_at(0.85, points) == pytest.approx(0.5)  # half of each end beats (0.85, 0.8)
    assert best_cost_at(0.95, points) == float("inf")


def test_verdict_separates_domination_from_trade_off():
    better = [Saving(0.8, 1.0, 0.9, 1.0, 1.0)]
    mixed = [Saving(0.8, 1.0, 0.9, 1.0, 1.2)]
    worse = [Saving(0.8, 1.0, 1.1, 1.0, 1.0)]
    assert verdict(better) == "dominates"
    assert verdict(mixed) == "trade-off"
    assert verdict(worse) == "does not dominate"


def test_monotonicity_check_counts_a_planted_violation():
    rtt = np.array([0.1, 0.2, 0.3])
    bw = np.array([3.0, 2.0, 1.0])
    assert monotonicity_violations(rtt, bw, np.array([0.9, 0.8, 0.7]))[0] == 0
    bad, pairs = monotonicity_violations(rtt, bw, np.array([0.9, 0.95, 0.7]))
    assert (bad, pairs) == (1, 3)


def test_share_by_bins_reports_each_quantile_bin():
    values = np.arange(100.0)
    routes = (values < 50).astype(float)
    bins = share_by_bins(values, routes, n_bins=2)
    assert [round(b[2], 2) for b in bins] == [1.0, 0.0]


def test_peak_offpeak_schedule_halves_the_price_at_night():
    model = "gpt-4o-2024-08-06-FC"
    assert price_factor(model, "peak_offpeak", 13.0) == pytest.approx(1.0)
    assert price_factor(model, "peak_offpeak", 3.0) == pytest.approx(0.5)
    assert price_factor(model, "flat", 3.0) == pytest.approx(1.0)
