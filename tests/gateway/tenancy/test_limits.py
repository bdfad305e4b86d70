"""Laws of the per-key limits (gateway/tenancy/limits.py)."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from gateway.tenancy.limits import (
    BUDGET,
    REQUESTS,
    TOKENS,
    KeyLimits,
    LimitState,
    admit,
    charge,
    retry_after_header,
)

gaps = st.lists(st.floats(min_value=0.0, max_value=5.0), min_size=1, max_size=200)


@given(rpm=st.integers(1, 120), gaps=gaps)
def test_requests_in_any_run_never_exceed_the_bucket(rpm, gaps):
    limits, state, now, admitted = KeyLimits(rpm=rpm), LimitState(), 1000.0, 0
    for gap in gaps:
        now += gap
        admitted += admit(limits, state, now).allowed
    elapsed = now - 1000.0
    assert admitted <= rpm + elapsed * rpm / 60 + 1e-9


@given(rpm=st.integers(1, 120), burst=st.integers(1, 300))
def test_retry_after_is_when_the_next_request_is_admitted(rpm, burst):
    limits, state, now = KeyLimits(rpm=rpm), LimitState(), 50.0
    verdicts = [admit(limits, state, now) for _ in range(burst)]
    assert sum(v.allowed for v in verdicts) == min(burst, rpm)
    if burst <= rpm:
        return
    refused = verdicts[-1]
    assert refused.limit == REQUESTS and refused.retry_after_s > 0
    assert not admit(limits, state, now + refused.retry_after_s * 0.99).allowed
    assert admit(limits, state, now + refused.retry_after_s + 1e-6).allowed


def test_a_refused_request_takes_no_token():
    limits, state = KeyLimits(rpm=1), LimitState()
    assert admit(limits, state, 0.0).allowed
    for _ in range(50):
        assert not admit(limits, state, 1.0).allowed
    assert admit(limits, state, 60.0).allowed  # one minute after the first, not later


@given(tpm=st.integers(10, 100_000), used=st.integers(1, 300_000))
def test_tokens_are_charged_after_the_answer_and_hold_back_the_next(tpm, used):
    limits, state = KeyLimits(tpm=tpm), LimitState()
    assert admit(limits, state, 0.0).allowed
    charge(limits, state, 0.0, used, 0.0)
    verdict = admit(limits, state, 0.0)
    if used < tpm:
        assert verdict.allowed
        return
    assert verdict.limit == TOKENS
    debt = min(used, 2 * tpm) - tpm  # the level never falls below -tpm
    assert math.isclose(verdict.retry_after_s, max(debt * 60 / tpm, 60 / tpm), rel_tol=1e-9)
    assert admit(limits, state, verdict.retry_after_s + 1e-6).allowed


def test_budget_is_per_period_and_resets_at_its_end():
    limits, state = KeyLimits(budget_usd=1.0, budget_period_s=3600), LimitState()
    now = 7200.0 + 100  # 100 s into an hour
    assert admit(limits, state, now).allowed
    charge(limits, state, now, 0, 0.6)
    assert admit(limits, state, now).allowed
    charge(limits, state, now, 0, 0.6)
    refused = admit(limits, state, now + 1)
    assert refused.limit == BUDGET and refused.retry_after_s == 3600 - 101
    assert admit(limits, state, 10800.0).allowed  # the next hour


def test_checks_run_budget_then_tokens_then_requests():
    limits = KeyLimits(rpm=1, tpm=10, budget_usd=0.01)
    state = LimitState()
    assert admit(limits, state, 0.0).allowed
    charge(limits, state, 0.0, 50, 0.02)
    assert admit(limits, state, 0.0).limit == BUDGET


def test_unlimited_key_is_always_admitted():
    assert KeyLimits().unlimited
    state = LimitState()
    assert all(admit(KeyLimits(), state, float(t)).allowed for t in range(1000))


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_retry_after_header_is_a_positive_integer(seconds):
    value = retry_after_header(seconds)
    assert value.isdigit() and int(value) >= 1
