"""Load a cloud price schedule from a TOML or YAML file (``NETGPT_CLOUD_PRICE_SCHEDULE_FILE``).

The shape is documented in ``gateway.routing.pricing``; ``deploy/prices.example.toml`` is a
complete example. The app builds the price callable from it::

    schedule = load_price_schedule(settings.cloud.price_schedule_file)
    if schedule is not None:
        schedule.price_at(settings.cloud.model, time.time())   # fail fast on a missing model
        prices = lambda now: Prices(*schedule.price_at(settings.cloud.model, now))
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import yaml

from gateway.config import ConfigError
from gateway.routing.pricing import PriceSchedule, PriceScheduleError

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
