"""The cloud's price now, from the settings: a schedule file (``NETGPT_CLOUD_PRICE_SCHEDULE_FILE``,
TOML or YAML, shape in ``gateway.routing.pricing``; ``deploy/prices.example.toml`` is a complete
example) or the flat per-million-token prices::

    prices = price_function(settings)     # raises ConfigError on an unusable file
    prices(time.time())                   # Prices(input=..., output=...) USD per token
"""

from __future__ import annotations

import time
import tomllib
from pathlib import Path
from typing import Any

import yaml

from gateway.config import ConfigError, Settings
from gateway.routing.pricing import PriceFn, Prices, PriceSchedule, PriceScheduleError, flat_prices

_ENV = "NETGPT_CLOUD_PRICE_SCHEDULE_FILE"


def load_price_schedule(path: Path | str | None) -> PriceSchedule | None:
    """The schedule in ``path`` (``.toml``, ``.yaml`` or ``.yml``); None when no path is set.

    Raises :class:`ConfigError` naming the variable and the problem when the file is missing or
    malformed."""
    if path is None:
        return None
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{_ENV}: cannot read {path}: {exc.strerror or exc}") from None
    try:
        data: Any
        if path.suffix.lower() == ".toml":
            data = tomllib.loads(text)
        elif path.suffix.lower() in (".yaml", ".yml"):
            data = yaml.safe_load(text)
        else:
            raise ConfigError(f"{_ENV}: {path} must end in .toml, .yaml or .yml")
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{_ENV}: {path} is not valid {path.suffix[1:].upper()}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{_ENV}: {path} must hold a table/mapping at the top level")
    try:
        return PriceSchedule.from_dict(data)
    except PriceScheduleError as exc:
        raise ConfigError(f"{_ENV}: {path}: {exc}") from None


def price_function(settings: Settings) -> PriceFn:
    """USD per token at a unix time: the schedule file's, else the flat prices of the settings.

    Raises ``ConfigError`` (naming the variable) when the schedule file is unusable or has no
    prices for the cloud model."""
    schedule = load_price_schedule(settings.cloud.price_schedule_file)
    if schedule is None:
        return flat_prices(settings.cloud.price_input_per_mtok, settings.cloud.price_output_per_mtok)
    model = settings.cloud.model
    try:
        schedule.price_at(model, time.time())
    except KeyError:
        raise ConfigError(f"{_ENV}: no prices for the cloud model '{model}'") from None
    return lambda now: Prices(*schedule.price_at(model, now))
