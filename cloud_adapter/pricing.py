"""Cloud prices: a callable ``price(unix_time) -> (USD per input token, USD per output token)``.

The flat table comes from settings (``NETGPT_CLOUD_PRICE_INPUT_PER_MTOK`` /
``..._OUTPUT_PER_MTOK``, USD per million tokens). A time-of-day schedule (``gateway.routing``)
plugs in as any other callable of the same shape.

    price = flat_price(settings.cloud)
    cost_usd(price, input_tokens=1000, output_tokens=200, now=time.time())
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from gateway.config import CloudSettings

PriceFn = Callable[[float], tuple[float, float]]


def flat_price(cloud: CloudSettings) -> PriceFn:
    """The same price at every time, from the settings' per-million-token prices."""
    per_token = (cloud.price_input_per_mtok / 1e6, cloud.price_output_per_mtok / 1e6)

    def price(_now: float) -> tuple[float, float]:
        return per_token

    return price


def cost_usd(price: PriceFn, input_tokens: int, output_tokens: int, now: float) -> float:
    per_input, per_output = price(now)
    return input_tokens * per_input + output_tokens * per_output


def usage_tokens(usage: Mapping[str, Any] | None) -> tuple[int, int]:
    """(prompt_tokens, completion_tokens) from an OpenAI ``usage`` object; zeros when absent."""
    if not isinstance(usage, Mapping):
        return 0, 0

    def count(key: str) -> int:
        value = usage.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0

    return count("prompt_tokens"), count("completion_tokens")
