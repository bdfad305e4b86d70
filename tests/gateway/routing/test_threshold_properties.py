"""Laws of the dynamic threshold, stated as hypothesis properties (ARCHITECTURE.md).

τ is non-increasing in RTT, price and μ and non-decreasing in bandwidth; the decision always
agrees with s < τ; scores stay in [0, 1] with or without a calibration.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gateway.config import Settings
from gateway.network.static import StaticNetwork
from gateway.policy.inputs import LiveInputs
from gateway.routing.calibration import fit
from gateway.routing.decision import decide
from gateway.routing.pricing import Prices
from gateway.routing.score import DraftFeatures, score
from gateway.routing.state import LinkEstimate, NetworkState
from gateway.routing.threshold import CloudCallEstimate, ThresholdParams, threshold

rtts = st.floats(0.0, 5.0)
bandwidths = st.floats(1e3, 1e10)
prices = st.floats(0.0, 1e-4)  # USD per token: 0 .. $100 per million
mus = st.floats(0.0, 1e6)
params = st.builds(ThresholdParams, st.floats(0.0, 1.0), st.floats(0.0, 10.0), st.floats(0.0, 1e4))
calls = st.builds(CloudCallEstimate, st.floats(0.0, 1e7), st.floats(0.0, 30.0), st.floats(0.0, 1.0))


def _pair(strategy: st.SearchStrategy[float]) -> st.SearchStrategy[tuple[float, float]]:
    return st.tuples(strategy, strategy).map(sorted).map(tuple)  # type: ignore[arg-type]


@given(params, calls, _pair(rtts), bandwidths, mus)
def test_tau_non_increasing_in_rtt(p, call, rtt_pair, bw, mu) -> None:
    low, high = rtt_pair
    assert threshold(p, LinkEstimate(high, bw), call, mu) <= threshold(
        p, LinkEstimate(low, bw), call, mu
    )


@given(params, calls, rtts, _pair(bandwidths), mus)
def test_tau_non_decreasing_in_bandwidth(p, call, rtt, bw_pair, mu) -> None:
    narrow, wide = bw_pair
    assert threshold(p, LinkEstimate(rtt, wide), call, mu) >= threshold(
        p, LinkEstimate(rtt, narrow), call, mu
    )


@given(params, calls, rtts, bandwidths, _pair(mus))
def test_tau_non_increasing_in_mu(p, call, rtt, bw, mu_pair) -> None:
    low, high = mu_pair
    link = LinkEstimate(rtt, bw)
    assert threshold(p, link, call, high) <= threshold(p, link, call, low)


def _policy(price_in: float, price_out: float, mu: float, link: LinkEstimate) -> LiveInputs:
    settings = Settings(routing={"lambda_cost": 200.0, "lambda_latency": 0.1})
    return LiveInputs(
        settings,
        StaticNetwork(link),
        prices=lambda _now: Prices(price_in, price_out),
        multiplier=lambda: mu,
    )


@given(_pair(prices), _pair(prices), st.integers(0, 200_000), rtts, bandwidths, mus)
def test_tau_non_increasing_in_price_through_the_policy(pin, pout, nbytes, rtt, bw, mu) -> None:
    link = LinkEstimate(rtt, bw)
    cheap = _policy(pin[0], pout[0], mu, link).threshold_for(nbytes, now=0.0).tau
    dear = _policy(pin[1], pout[1], mu, link).threshold_for(nbytes, now=0.0).tau
    assert dear <= cheap
    assert 0.0 <= dear <= 1.0


@given(params, calls, rtts, bandwidths, mus, st.floats(0.0, 1.0), st.booleans())
def test_decision_agrees_with_s_below_tau(p, call, rtt, bw, mu, s, valid) -> None:
    tau = threshold(p, LinkEstimate(rtt, bw), call, mu)
    assert 0.0 <= tau <= 1.0
    decision = decide(score=s, tau=tau, schema_valid=valid)
    if not valid:
        assert decision.route == "cloud" and decision.reason == "schema_invalid"
    else:
        assert (decision.route == "cloud") == (s < tau)


@given(st.floats(0, 1), st.floats(0, 1), st.floats(0, 1))
def test_stale_link_uses_the_conservative_state(rtt, bw_scale, s) -> None:
    settings = Settings()
    fresh = LinkEstimate(rtt, 1e5 + bw_scale * 1e9)
    stale = LinkEstimate(rtt, 1e5 + bw_scale * 1e9, stale=True)
    policy = LiveInputs(settings, StaticNetwork(fresh))
    used = policy.cloud_link(NetworkState(cloud=stale))
    assert used.rtt_s == settings.routing.stale_rtt_s
    assert used.bandwidth_bytes_per_s == settings.routing.stale_bandwidth_bytes_per_s
    assert policy.cloud_link(NetworkState(cloud=fresh)) is fresh


features = st.builds(
    DraftFeatures,
    schema_valid=st.booleans(),
    n_tool_calls=st.integers(0, 5),
    mean_logprob=st.one_of(st.none(), st.floats(-1e6, 10.0), st.just(float("-inf"))),
    min_logprob=st.one_of(st.none(), st.floats(-1e6, 10.0), st.just(float("-inf"))),
    n_tokens=st.integers(0, 4000),
    offload_requested=st.booleans(),
)


@given(
    features,
    st.lists(st.tuples(st.floats(0, 1), st.booleans()), min_size=1, max_size=40),
    st.sampled_from(["isotonic", "platt"]),
)
def test_scores_stay_in_unit_interval(f, data, method) -> None:
    calibration = fit([x for x, _ in data], [y for _, y in data], method)
    for calibrate in (None, calibration):
        s = score(f, calibrate)
        assert 0.0 <= s <= 1.0
        if not f.schema_valid or f.offload_requested:
            assert s == 0.0
