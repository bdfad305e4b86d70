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
                {
                    "name": "peak",
                    "days": ["mon", "tue", "wed", "thu", "fri"],
                    "hours": ["09:30", "18:00"],
                    "input_per_mtok": 2.0,
                    "output_per_mtok": 8.0,
                },
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
        (_local(2026, 11, 23, 10), "peak", 2.0),  # Monday 10:00
        (_local(2026, 11, 23, 9, 29), None, 1.0),  # Monday 09:29, just before the peak
        (_local(2026, 11, 23, 9, 30), "peak", 2.0),  # start is inclusive
        (_local(2026, 11, 23, 18), None, 1.0),  # end is exclusive
        (_local(2026, 11, 28, 10), None, 1.0),  # Saturday 10:00: no weekday peak
        (_local(2026, 11, 28, 23), "night", 0.5),  # Saturday 23:00
        (_local(2026, 11, 29, 5, 59), "night", 0.5),  # wraps past midnight
        (_local(2026, 11, 29, 6), None, 1.0),
    ],
)
def test_rules_by_local_time(
    schedule: PriceSchedule, when: float, rule: str | None, price_in: float
) -> None:
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
        (
            {
                "models": {
                    "m": {
                        "input_per_mtok": 1,
                        "output_per_mtok": 1,
                        "rules": [{"days": ["funday"], "input_per_mtok": 1, "output_per_mtok": 1}],
                    }
                }
            },
            "funday",
        ),
        (
            {
                "models": {
                    "m": {
                        "input_per_mtok": 1,
                        "output_per_mtok": 1,
                        "rules": [{"hours": [25, 3], "input_per_mtok": 1, "output_per_mtok": 1}],
                    }
                }
            },
            "outside",
        ),
        (
            {"utc_offset_hours": "x", "models": {"m": {"input_per_mtok": 1, "output_per_mtok": 1}}},
            "utc_offset",
        ),
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


# ---- the file loader ---------------------------------------------------------------------------

from pathlib import Path  # noqa: E402

from gateway.config import ConfigError  # noqa: E402
from gateway.policy.prices import load_price_schedule  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[3] / "deploy" / "prices.example.toml"


def test_example_file_has_published_base_prices() -> None:
    schedule = load_price_schedule(EXAMPLE)
    assert schedule is not None
    saturday_noon = calendar.timegm((2026, 11, 28, 11, 0, 0))  # 12:00 at UTC+1: no rule
    assert schedule.price_at("gpt-4o", saturday_noon) == pytest.approx((2.5e-6, 10e-6))
    assert schedule.price_at("gpt-4o-mini", saturday_noon) == pytest.approx((0.15e-6, 0.6e-6))
    monday_ten = calendar.timegm((2026, 11, 23, 9, 0, 0))
    assert schedule.point_at("gpt-4o", monday_ten).rule == "weekday-peak"


def test_yaml_file_and_no_file(tmp_path: Path) -> None:
    path = tmp_path / "prices.yaml"
    path.write_text("models:\n  m:\n    input_per_mtok: 1\n    output_per_mtok: 2\n")
    schedule = load_price_schedule(path)
    assert schedule is not None and schedule.price_at("m", 0.0) == pytest.approx((1e-6, 2e-6))
    assert load_price_schedule(None) is None


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("p.toml", "models = [", "not valid TOML"),
        ("p.json", "{}", "must end in"),
        ("p.yaml", "- 1\n- 2\n", "top level"),
        ("p.toml", "[models.m]\ninput_per_mtok = 1\n", "output_per_mtok"),
    ],
)
def test_file_errors_name_the_variable(tmp_path: Path, name: str, text: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as info:
        load_price_schedule(path)
    assert "NETGPT_CLOUD_PRICE_SCHEDULE_FILE" in str(info.value)
    with pytest.raises(ConfigError, match="cannot read"):
        load_price_schedule(tmp_path / "missing.toml")
