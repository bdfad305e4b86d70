"""The online latency model and the learned placement policy's shipped weights."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.routing.placement import (
    Context,
    Estimate,
    ExpertView,
    LatencyModel,
    LatencyPrior,
    PolicyState,
    RequestView,
    place,
)
from gateway.routing.placement.learned_model import (
    FEATURES,
    LearnedPolicy,
    features,
    load_policy,
    policy_from_json,
)


def estimates(r: RequestView, experts: list[ExpertView]) -> list[Estimate]:
    return Context(r, experts, {}, PolicyState()).estimates(range(len(experts)))


def _truth(c: int, p: int) -> tuple[float, float]:
    """A server unlike the default prior: slower prefill, stronger interference."""
    ttft = 0.08 + 0.3 * p / 1000 + 0.03 * (c - 1) + 0.05 * (c - 1) * p / 1000
    tpot = 0.035 + 0.006 * (c - 1)
    return ttft, tpot


def test_latency_model_converges_on_synthetic_data():
    rng = random.Random(1)
    m = LatencyModel()  # default prior, far from the truth
    first = []
    for i in range(600):
        c, p, o = rng.randint(1, 8), rng.randint(50, 3000), rng.randint(2, 300)
        ttft, tpot = _truth(c, p)
        noise = rng.lognormvariate(0, 0.05)
        before = m.predict(c, p, o).total_s
        true_total = ttft * noise + (o - 1) * tpot * noise
        if i < 20:
            first.append(abs(before - true_total) / true_total)
        m.observe(c, p, o, ttft * noise, true_total)
    assert first[0] > 0.3  # the prior really was wrong
    assert m.recent_mape < 0.08  # within the noise after learning
    assert m.n == 600 and 0 < m.mape < first[0]
    coef = m.coefficients
    assert coef["tpot_s"] == pytest.approx(0.035, rel=0.1)
    assert coef["tpot_s_per_extra"] == pytest.approx(0.006, rel=0.2)
    assert coef["prefill_s_per_1k"] == pytest.approx(0.3, rel=0.2)


def test_latency_model_starts_from_its_prior_and_ignores_broken_measurements():
    prior = LatencyPrior(ttft_s=0.1, prefill_s_per_1k=0.2, tpot_s=0.03, tpot_s_per_extra=0.0)
    m = LatencyModel(prior)
    pred = m.predict(1, 1000, 11)
    assert pred.ttft_s == pytest.approx(0.3) and pred.total_s == pytest.approx(0.3 + 10 * 0.03)
    m.observe(1, 1000, 11, ttft_s=0.0, total_s=1.0)  # no first token time: nothing learned
    m.observe(1, 1000, 11, ttft_s=2.0, total_s=1.0)  # total before first token: nothing learned
    assert m.n == 0 and m.predict(1, 1000, 11) == pred


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 64), st.integers(0, 20000), st.integers(0, 5000))
def test_latency_predictions_are_positive_whatever_was_learned(c, p, o):
    m = LatencyModel()
    m.observe(3, 100, 50, 0.001, 0.002)  # an odd measurement pulls coefficients around
    pred = m.predict(c, p, o)
    assert pred.ttft_s > 0 and pred.tpot_s > 0 and pred.total_s >= pred.ttft_s


def _experts() -> list[ExpertView]:
    return [
        ExpertView("a", 0.9, in_flight=12, slots=16, running=12.0, waiting=0.0, kv_usage=0.7),
        ExpertView("b", 0.6, in_flight=1, slots=16, running=1.0, waiting=0.0, kv_usage=0.1),
        ExpertView("down", 1.0, in_flight=0, slots=16, healthy=False),
        ExpertView("c", 0.8, in_flight=3, slots=4),
    ]


def test_shipped_learned_policy_loads_and_places_on_a_healthy_expert():
    policy = load_policy()
    assert policy.meta["curve"], "the weights carry their training curve"
    state = PolicyState(learned=policy)
    r = RequestView(800, 100, slo_ttft_s=1.0, slo_tpot_s=0.05)
    p = place(r, _experts(), {}, "learned", state)
    assert p.expert in {"a", "b", "c"}
    assert p.policy == "learned" and p.reason in {"learned", "no_expert_meets_slo"}
    scores = policy.scores(
        features(
            r,
            [e for e in _experts() if e.healthy],
            estimates(r, [e for e in _experts() if e.healthy]),
        )
    )
    assert scores.shape == (3,) and np.isfinite(scores).all()


def test_learned_policy_without_weights_says_how_to_load_them():
    with pytest.raises(ValueError, match="load_policy"):
        place(RequestView(10, 10), _experts(), {}, "learned", PolicyState())


def test_weights_for_other_features_are_refused(tmp_path: Path):
    doc = {"format": 1, "features": ["quality"], "weights": {}}
    with pytest.raises(ValueError, match="retrain"):
        policy_from_json(json.dumps(doc))


def test_attention_lets_each_expert_see_the_others():
    """The same expert scores differently when its alternatives change (the encoder mixes them)."""
    policy = load_policy()
    r = RequestView(800, 100, slo_ttft_s=1.0, slo_tpot_s=0.05)
    a = ExpertView("a", 0.9, in_flight=4, slots=16)
    idle = ExpertView("b", 0.8, in_flight=0, slots=16)
    busy = ExpertView("b", 0.8, in_flight=15, slots=16)
    s1 = policy.scores(features(r, [a, idle], estimates(r, [a, idle])))
    s2 = policy.scores(features(r, [a, busy], estimates(r, [a, busy])))
    assert s1[0] != pytest.approx(s2[0], abs=1e-9)


@pytest.mark.train
def test_numpy_forward_matches_the_torch_model_it_was_exported_from():
    torch = pytest.importorskip("torch")
    from bench.experts.learn import torch_model

    torch.manual_seed(3)
    model = torch_model(len(FEATURES), 8)
    model.mean.copy_(torch.rand(len(FEATURES)))
    model.std.copy_(torch.rand(len(FEATURES)) + 0.5)
    x = torch.rand(1, 5, len(FEATURES))
    with torch.no_grad():
        expected = model(x)[0].numpy()
    got = LearnedPolicy(model.export()).scores([[*row, 1.0] for row in x[0].tolist()])
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
