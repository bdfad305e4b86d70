"""Token counts from an OpenAI ``usage`` object; the cost of an answer.

Prices are callables ``price(unix_time) -> Prices`` from ``gateway.routing.pricing`` (their one
home): flat from the settings, or a time-of-day schedule (``gateway.policy.prices``)::

    price = flat_price(settings.cloud)
    cost_usd(price, input_tokens=1000, output_tokens=200, now=time.time())
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.config import CloudSettings
from gateway.routing.pricing import PriceFn, flat_prices
from gateway.routing.pricing import cost_usd as _cost

__all__ = ["PriceFn", "cost_usd", "flat_price", "usage_tokens"]


def flat_price(cloud: CloudSettings) -> PriceFn:
    """The settings' flat per-million-token prices as a price callable."""
    return flat_prices(cloud.price_input_per_mtok, cloud.price_output_per_mtok)


def cost_usd(price: PriceFn, input_tokens: int, output_tokens: int, now: float) -> float:
    return _cost(price(now), input_tokens, output_tokens)


def usage_tokens(usage: Mapping[str, Any] | None) -> tuple[int, int]:
    """(prompt_tokens, completion_tokens) from an OpenAI ``usage`` object; zeros when absent."""
    if not isinstance(usage, Mapping):
        return 0, 0

    def count(key: str) -> int:
        value = usage.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0

    return count("prompt_tokens"), count("completion_tokens")
