"""Price schedules: rules by hour and weekday in the schedule's local time."""

from __future__ import annotations

import calendar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.routing.pricing import PriceSchedule, PriceScheduleError, UnknownModel

SCHEDULE = {
    "utc_offset_hours": 2,
    "models": {
        "m": {
            "input_per_mtok": 1.0,
            "output_per_mtok": 4.0,
            "rules": [
                {"name": "peak", "days": ["mon", "tue", "wed", "thu", "fri"],
                 "hours": ["09:30", "18:00"], "input_per_mtok": 2.0, "output_per_mtok": 8.0},
                {"name": "night", "hours": [22, 6], "input_per_mtok": 0.5, "output_per_mtok": 2.0},
            ],
        },
        "*": {"input_per_mtok": 9.0, "output_per_mtok": 9.0},
    },
}


def _local(y: int, mo: int, d: int, h: int, mi: int = 0, offset_h: float = 2) -> float:
    """Unix time of a local wall-clock time at UTC+offset."""
    return calendar.timegm((y, mo, d, h, mi, 0)) - offset_h * 3600


@pytest.fixture
def schedule() -> PriceSchedule:
    return PriceSchedule.from_dict(SCHEDULE)


@pytest.mark.parametrize(
    ("when", "rule", "price_in"),
    [
        (_local(2026, 11, 23, 10), "peak", 2.0),        # Monday 10:00
        (_local(2026, 11, 23, 9, 29), None, 1.0),      # Monday 09:29, just before the peak
        (_local(2026, 11, 23, 9, 30), "peak", 2.0),    # start is inclusive
        (_local(2026, 11, 23, 18), None, 1.0),         # end is exclusive
        (_local(2026, 11, 28, 10), None, 1.0),         # Saturday 10:00: no weekday peak
        (_local(2026, 11, 28, 23), "night", 0.5),      # Saturday 23:00
        (_local(2026, 11, 29, 5, 59), "night", 0.5),   # wraps past midnight
        (_local(2026, 11, 29, 6), None, 1.0),
    ],
)
def test_rules_by_local_time(schedule: PriceSchedule, when: float, rule: str | None, price_in: float) -> None:
    point = schedule.point_at("m", when)
    assert point.rule == rule
    assert point.input_per_token == pytest.approx(price_in * 1e-6)
    assert point.output_per_token == pytest.approx(price_in * 4 * 1e-6)
    assert schedule.price_at("m", when) == (point.input_per_token, point.output_per_token)


def test_offset_moves_the_peak(schedule: PriceSchedule) -> None:
    # 08:00 UTC Monday is 10:00 at UTC+2 (peak) but only 08:00 at UTC+0
    when = calendar.timegm((2026, 11, 23, 8, 0, 0))
    assert schedule.point_at("m", when).rule == "peak"
    utc = PriceSchedule.from_dict({**SCHEDULE, "utc_offset_hours": 0})
    assert utc.point_at("m", when).rule is None


def test_fallback_model_and_unknown_model(schedule: PriceSchedule) -> None:
    assert schedule.price_at("other", 0.0) == pytest.approx((9e-6, 9e-6))
    without = PriceSchedule.from_dict({"models": {"m": SCHEDULE["models"]["m"]}})
    with pytest.raises(UnknownModel, match="other"):
        without.price_at("other", 0.0)


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"models": {}}, "models"),
        ({"models": {"m": {"input_per_mtok": -1, "output_per_mtok": 1}}}, "input_per_mtok"),
        ({"models": {"m": {"input_per_mtok": 1}}}, "output_per_mtok"),
        ({"models": {"m": {"input_per_mtok": 1, "output_per_mtok": 1,
                           "rules": [{"days": ["funday"], "input_per_mtok": 1, "output_per_mtok": 1}]}}}, "funday"),
        ({"models": {"m": {"input_per_mtok": 1, "output_per_mtok": 1,
                           "rules": [{"hours": [25, 3], "input_per_mtok": 1, "output_per_mtok": 1}]}}}, "outside"),
        ({"utc_offset_hours": "x", "models": {"m": {"input_per_mtok": 1, "output_per_mtok": 1}}}, "utc_offset"),
    ],
)
def test_malformed_schedules_name_the_problem(patch: dict, message: str) -> None:
    with pytest.raises(PriceScheduleError, match=message):
        PriceSchedule.from_dict(patch)


@given(st.floats(0, 4e9))
def test_price_is_always_one_of_the_configured_prices(when: float) -> None:
    schedule = PriceSchedule.from_dict(SCHEDULE)
    price_in, price_out = schedule.price_at("m", when)
    assert round(price_in * 1e6, 9) in {1.0, 2.0, 0.5}
    assert price_out == pytest.approx(price_in * 4)
