"""Cloud price schedules: USD per token by model, time of day and day of week.

A schedule is built from a plain dict (a parsed TOML or YAML file; the file loader lives in
``gateway.policy.prices`` because this package does no I/O)::

    utc_offset_hours = 1                  # local time of the schedule's hours and days
    [models."gpt-4o-mini"]
    input_per_mtok = 0.15                 # base (off-peak) price, USD per million tokens
    output_per_mtok = 0.60
    [[models."gpt-4o-mini".rules]]        # first matching rule wins
    name = "weekday-peak"
    days = ["mon", "tue", "wed", "thu", "fri"]
    hours = ["09:00", "18:00"]            # [start, end) local time; may wrap past midnight
    input_per_mtok = 0.30
    output_per_mtok = 1.20

A model named ``"*"`` is the fallback for models without their own entry. Time is passed in
(unix seconds), so :meth:`PriceSchedule.price_at` is a pure function.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

_DAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
# 1970-01-01 was a Thursday (Monday = 0)
_EPOCH_WEEKDAY = 3
PER_MTOK = 1e-6


class Prices(NamedTuple):
    """USD per token, now: ``(input, output)``. Every price callable returns this pair, so one
    callable serves the threshold, the cloud client's cost and the dataset record."""

    input: float
    output: float


PriceFn = Callable[[float], Prices]  # unix time -> Prices


def flat_prices(input_per_mtok: float, output_per_mtok: float) -> PriceFn:
    """The same price at every time, from USD per million tokens."""
    flat = Prices(input_per_mtok * PER_MTOK, output_per_mtok * PER_MTOK)
    return lambda _now: flat


def cost_usd(prices: tuple[float, float], input_tokens: float, output_tokens: float) -> float:
    """The one cost formula: tokens times the per-token prices (expected or billed tokens)."""
    return input_tokens * prices[0] + output_tokens * prices[1]


class PriceScheduleError(ValueError):
    """The schedule dict is malformed; the message names the offending entry."""


class UnknownModel(KeyError):
    """The schedule has no entry for the model and no ``"*"`` fallback."""


@dataclass(frozen=True, slots=True)
class PriceRule:
    name: str
    days: frozenset[int]  # Monday = 0
    start_h: float  # local hour of day, inclusive
    end_h: float  # exclusive; end < start wraps past midnight
    input_per_mtok: float
    output_per_mtok: float

    def matches(self, weekday: int, hour: float) -> bool:
        if self.start_h <= self.end_h:
            # a window inside one day belongs to that day
            return weekday in self.days and self.start_h <= hour < self.end_h
        # a window that wraps past midnight belongs to the day it starts on
        if hour >= self.start_h:
            return weekday in self.days
        return hour < self.end_h and (weekday - 1) % 7 in self.days


@dataclass(frozen=True, slots=True)
class ModelPrices:
    input_per_mtok: float
    output_per_mtok: float
    rules: tuple[PriceRule, ...] = ()
    utc_offset_hours: float | None = None  # overrides the schedule's offset


@dataclass(frozen=True, slots=True)
class PricePoint:
    """The price in force at one instant, with the rule that set it (None: base price)."""

    input_per_token: float
    output_per_token: float
    rule: str | None


def _hour(value: Any, where: str) -> float:
    if isinstance(value, bool):
        raise PriceScheduleError(f"{where}: hour must be a number or 'HH:MM', got {value!r}")
    if isinstance(value, int | float):
        hour = float(value)
    elif isinstance(value, str) and ":" in value:
        hh, _, mm = value.partition(":")
        try:
            hour = int(hh) + int(mm) / 60.0
        except ValueError:
            raise PriceScheduleError(f"{where}: cannot read hour {value!r}") from None
    else:
        raise PriceScheduleError(f"{where}: hour must be a number or 'HH:MM', got {value!r}")
    if not 0.0 <= hour <= 24.0:
        raise PriceScheduleError(f"{where}: hour {value!r} is outside 0..24")
    return hour


def _days(value: Any, where: str) -> frozenset[int]:
    if value is None:
        return frozenset(range(7))
    if not isinstance(value, list | tuple):
        raise PriceScheduleError(f"{where}: days must be a list like ['mon', 'tue']")
    out: set[int] = set()
    for day in value:
        if isinstance(day, str) and day[:3].lower() in _DAYS:
            out.add(_DAYS[day[:3].lower()])
        elif isinstance(day, int) and not isinstance(day, bool) and 0 <= day <= 6:
            out.add(day)
        else:
            raise PriceScheduleError(f"{where}: unknown day {day!r} (use mon..sun or 0..6)")
    return frozenset(out)


def _price(entry: Mapping[str, Any], key: str, where: str) -> float:
    value = entry.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise PriceScheduleError(f"{where}: {key} must be a non-negative number, got {value!r}")
    return float(value)


def _rule(entry: Any, where: str) -> PriceRule:
    if not isinstance(entry, Mapping):
        raise PriceScheduleError(f"{where}: a rule must be a table")
    hours = entry.get("hours", [0, 24])
    if not isinstance(hours, list | tuple) or len(hours) != 2:
        raise PriceScheduleError(f"{where}: hours must be [start, end]")
    return PriceRule(
        name=str(entry.get("name", where)),
        days=_days(entry.get("days"), where),
        start_h=_hour(hours[0], where),
        end_h=_hour(hours[1], where),
        input_per_mtok=_price(entry, "input_per_mtok", where),
        output_per_mtok=_price(entry, "output_per_mtok", where),
    )


def _model(name: str, entry: Any) -> ModelPrices:
    where = f"models.{name}"
    if not isinstance(entry, Mapping):
        raise PriceScheduleError(f"{where}: must be a table with input_per_mtok, output_per_mtok")
    rules = entry.get("rules") or []
    if not isinstance(rules, list):
        raise PriceScheduleError(f"{where}.rules: must be a list of tables")
    offset = entry.get("utc_offset_hours")
    return ModelPrices(
        input_per_mtok=_price(entry, "input_per_mtok", where),
        output_per_mtok=_price(entry, "output_per_mtok", where),
        rules=tuple(_rule(rule, f"{where}.rules[{i}]") for i, rule in enumerate(rules)),
        utc_offset_hours=None if offset is None else float(offset),
    )


class PriceSchedule:
    """Per-model token prices that change with local time of day and day of week."""

    def __init__(self, models: Mapping[str, ModelPrices], utc_offset_hours: float = 0.0) -> None:
        self.models = dict(models)
        self.utc_offset_hours = utc_offset_hours

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PriceSchedule:
        """Build from a parsed TOML/YAML document (see the module docstring for the shape)."""
        models = data.get("models")
        if not isinstance(models, Mapping) or not models:
            raise PriceScheduleError("the schedule needs a [models.<name>] table per cloud model")
        offset = data.get("utc_offset_hours", 0.0)
        if isinstance(offset, bool) or not isinstance(offset, int | float):
            raise PriceScheduleError("utc_offset_hours must be a number")
        return cls({str(k): _model(str(k), v) for k, v in models.items()}, float(offset))

    def entry(self, model: str) -> ModelPrices:
        found = self.models.get(model) or self.models.get("*")
        if found is None:
            raise UnknownModel(
                f'no price for model {model!r} in the schedule; add [models."{model}"] or a '
                '[models."*"] fallback'
            )
        return found

    def point_at(self, model: str, unix_time: float) -> PricePoint:
        entry = self.entry(model)
        offset = self.utc_offset_hours if entry.utc_offset_hours is None else entry.utc_offset_hours
        local = unix_time + offset * 3600.0
        weekday = (int(local // 86400) + _EPOCH_WEEKDAY) % 7
        hour = (local % 86400) / 3600.0
        for rule in entry.rules:
            if rule.matches(weekday, hour):
                return PricePoint(
                    rule.input_per_mtok * PER_MTOK, rule.output_per_mtok * PER_MTOK, rule.name
                )
        return PricePoint(entry.input_per_mtok * PER_MTOK, entry.output_per_mtok * PER_MTOK, None)

    def price_at(self, model: str, unix_time: float) -> tuple[float, float]:
        """(USD per input token, USD per output token) for ``model`` at ``unix_time``.

        >>> s = PriceSchedule.from_dict({"models": {"m": {"input_per_mtok": 1, "output_per_mtok": 2}}})
        >>> s.price_at("m", 0.0)
        (1e-06, 2e-06)
        """
        point = self.point_at(model, unix_time)
        return point.input_per_token, point.output_per_token
