"""Isotonic and Platt calibration, their stored form, and the agreement label."""

from __future__ import annotations

import json
import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.routing.calibration import (
    Calibration,
    CalibrationError,
    calls_agree,
    fit,
    fit_isotonic,
)

data = st.lists(st.tuples(st.floats(0, 1), st.booleans()), min_size=1, max_size=60)


def test_pav_pools_violators_to_their_mean() -> None:
    cal = fit_isotonic([0.1, 0.2, 0.3, 0.4], [1, 0, 0, 1])
    # (0.1:1, 0.2:0, 0.3:0) pool to 1/3 over [0.1, 0.3]; 0.4 stays 1
    assert cal.xs == pytest.approx((0.1, 0.3, 0.4))
    assert cal.ys == pytest.approx((1 / 3, 1 / 3, 1.0))
    assert cal(0.0) == pytest.approx(1 / 3)
    assert cal(0.2) == pytest.approx(1 / 3)
    assert cal(0.35) == pytest.approx((1 / 3 + 1) / 2)
    assert cal(0.9) == 1.0


def test_equal_scores_share_one_value() -> None:
    cal = fit_isotonic([0.0, 1.0, 1.0], [0, 0, 1])
    assert cal(1.0) == pytest.approx(0.5)
    assert cal(0.0) == 0.0


@given(data, st.sampled_from(["isotonic", "platt"]))
def test_fits_are_monotone_and_in_unit_interval(pairs, method) -> None:
    cal = fit([x for x, _ in pairs], [y for _, y in pairs], method)
    grid = [i / 100 for i in range(101)]
    values = [cal(x) for x in grid]
    assert all(0.0 <= v <= 1.0 for v in values)
    assert all(a <= b + 1e-12 for a, b in zip(values, values[1:], strict=False))


def _brute_isotonic_sse(xs: list[float], ys: list[int]) -> float:
    """The least squared error of any non-decreasing fit, by exhaustive search over values
    drawn from the achievable block means (small inputs only)."""
    order = sorted(set(xs))
    rates = sorted(
        {
            sum(ys[j] for j in range(len(xs)) if lo <= xs[j] <= hi)
            / sum(1 for j in range(len(xs)) if lo <= xs[j] <= hi)
            for i, lo in enumerate(order)
            for hi in order[i:]
        }
    )
    best = math.inf

    def walk(k: int, floor: float, chosen: dict[float, float]) -> None:
        nonlocal best
        if k == len(order):
            best = min(best, sum((chosen[x] - y) ** 2 for x, y in zip(xs, ys, strict=True)))
            return
        for r in rates:
            if r >= floor:
                walk(k + 1, r, {**chosen, order[k]: r})

    walk(0, -1.0, {})
    return best


@given(
    st.lists(
        st.tuples(st.sampled_from([0.1, 0.3, 0.5, 0.7, 0.9]), st.integers(0, 1)),
        min_size=1,
        max_size=12,
    )
)
def test_isotonic_is_the_least_squares_monotone_fit(pairs) -> None:
    xs, ys = [x for x, _ in pairs], [y for _, y in pairs]
    cal = fit_isotonic(xs, ys)
    sse = sum((cal(x) - y) ** 2 for x, y in pairs)
    assert sse == pytest.approx(_brute_isotonic_sse(xs, ys), abs=1e-9)


def test_platt_recovers_a_logistic_relation() -> None:
    rng = random.Random(3)
    xs = [rng.random() for _ in range(4000)]
    ys = [rng.random() < 1 / (1 + math.exp(-(8 * x - 4))) for x in xs]
    cal = fit(xs, ys, "platt")
    assert cal.a == pytest.approx(8, rel=0.2)
    assert cal.b == pytest.approx(-4, rel=0.2)
    assert cal(0.5) == pytest.approx(0.5, abs=0.05)


def test_platt_never_decreases_on_inverted_data() -> None:
    cal = fit([0.1, 0.2, 0.8, 0.9], [1, 1, 0, 0], "platt")
    assert cal.a == 0.0
    assert cal(0.1) == cal(0.9)


@pytest.mark.parametrize("method", ["isotonic", "platt"])
def test_round_trip_through_json(method) -> None:
    cal = fit([0.1, 0.3, 0.5, 0.7, 0.9], [0, 0, 1, 0, 1], method)
    again = Calibration.from_dict(json.loads(json.dumps(cal.to_dict())))
    assert again == cal
    assert [again(x / 10) for x in range(11)] == [cal(x / 10) for x in range(11)]


@pytest.mark.parametrize(
    "bad",
    [
        {"method": "magic"},
        {"method": "isotonic", "xs": [0.2, 0.1], "ys": [0.1, 0.2]},
        {"method": "isotonic", "xs": [0.1, 0.2], "ys": [0.5, 0.1]},
        {"method": "isotonic", "xs": [0.1], "ys": []},
        {"method": "platt", "a": "x", "b": 0},
    ],
)
def test_from_dict_rejects_damaged_fits(bad) -> None:
    with pytest.raises(CalibrationError):
        Calibration.from_dict(bad)


def test_fit_needs_data() -> None:
    with pytest.raises(CalibrationError):
        fit([], [])
    with pytest.raises(CalibrationError):
        fit([0.1], [1, 0])


def _call(name: str, arguments: str | dict) -> dict:
    return {"id": "x", "type": "function", "function": {"name": name, "arguments": arguments}}


@pytest.mark.parametrize(
    ("edge", "cloud", "agree"),
    [
        ([_call("f", '{"a": 1, "b": "x"}')], [_call("f", '{ "b":"x",  "a":1.0 }')], True),
        ([_call("f", '{"a": 1}')], [_call("f", '{"a": 2}')], False),
        ([_call("f", '{"a": 1}')], [_call("g", '{"a": 1}')], False),
        ([_call("f", '{"a": true}')], [_call("f", '{"a": 1}')], False),  # JSON true is not 1
        ([_call("f", '{"a": [1, 2]}')], [_call("f", '{"a": [2, 1]}')], False),  # lists keep order
        (
            [_call("f", '{"a": 1}'), _call("g", "{}")],
            [_call("g", "{}"), _call("f", '{"a":1}')],
            True,
        ),
        ([_call("f", '{"a": 1}')], [_call("f", '{"a": 1}'), _call("f", '{"a": 1}')], False),
        (
            [_call("f", {"a": {"y": 1, "x": None}})],
            [_call("f", '{"a": {"x": null, "y": 1}}')],
            True,
        ),
        ([_call("f", "{not json")], [_call("f", "{not json")], True),
        ([_call("f", "{not json")], [_call("f", "{}")], False),
        ([_call("f", "")], [_call("f", "{}")], True),
        (None, [], True),
        ([], [_call("f", "{}")], False),
    ],
)
def test_calls_agree(edge, cloud, agree) -> None:
    assert calls_agree(edge, cloud) is agree
    assert calls_agree(cloud, edge) is agree
