"""Log-probability features of one edge draft, from the server's per-token ``logprobs.content``.

The gateway's score uses the mean and the minimum over every generated token
(``gateway.routing.score.logprob_summary``). Beside those, the benchmark isolates spans of the
generated text by character offsets of each token: the JSON object of the call (``call``: drops
whitespace and any prose around it), its function name (``name``) and its ``arguments`` value
(``args``). A token counts for a span when its characters overlap it. With the ``<tool_call>\\n``
pre-fill the generated text is the call's JSON, so ``call`` is close to ``all``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from gateway.routing.score import logprob_summary

FEATURES = (
    "lp_mean",
    "lp_min",
    "lp_sum",
    "lp_first",
    "lp_call_mean",
    "lp_call_min",
    "lp_name_mean",
    "lp_args_mean",
    "lp_args_min",
)
FLOOR = -100.0  # -inf log-probs (a token the grammar forced) count as this, as the gateway does


def _tokens(response: Mapping[str, Any]) -> list[tuple[str, float]]:
    choices = response.get("choices") or [{}]
    logprobs = choices[0].get("logprobs") if isinstance(choices[0], Mapping) else None
    content = logprobs.get("content") if isinstance(logprobs, Mapping) else None
    out = []
    for item in content or ():
        if not isinstance(item, Mapping):
            continue
        value = item.get("logprob")
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        lp = float(value) if math.isfinite(float(value)) else FLOOR
        out.append((str(item.get("token", "")), lp))
    return out


def _object_span(text: str) -> tuple[int, int] | None:
    start = text.find("{")
    while start != -1:
        try:
            _, end = json.JSONDecoder().raw_decode(text, start)
            return start, end
        except ValueError:
            start = text.find("{", start + 1)
    return None


def _value_span(text: str, span: tuple[int, int], key: str) -> tuple[int, int] | None:
    """Characters of ``key``'s value inside the JSON object at ``span`` (top level only)."""
    decoder = json.JSONDecoder()
    needle = f'"{key}"'
    at = text.find(needle, span[0], span[1])
    while at != -1:
        colon = at + len(needle)
        while colon < span[1] and text[colon] in " \t\r\n":
            colon += 1
        if colon < span[1] and text[colon] == ":":
            begin = colon + 1
            while begin < span[1] and text[begin] in " \t\r\n":
                begin += 1
            try:
                _, end = decoder.raw_decode(text, begin)
                return begin, end
            except ValueError:
                return None
        at = text.find(needle, at + 1, span[1])
    return None


def _in_span(
    offsets: Sequence[tuple[int, int, float]], span: tuple[int, int] | None
) -> list[float]:
    if span is None:
        return []
    lo, hi = span
    return [lp for start, end, lp in offsets if start < hi and end > lo]


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def logprob_features(response: Mapping[str, Any]) -> dict[str, float | None]:
    """Every feature in ``FEATURES`` (None where the draft has no such tokens)."""
    tokens = _tokens(response)
    lps = [lp for _, lp in tokens]
    mean, least = logprob_summary(lps)
    offsets: list[tuple[int, int, float]] = []
    pos = 0
    for text, lp in tokens:
        offsets.append((pos, pos + len(text), lp))
        pos += len(text)
    text = "".join(t for t, _ in tokens)
    obj = _object_span(text)
    call = _in_span(offsets, obj)
    name = _in_span(offsets, _value_span(text, obj, "name")) if obj else []
    args = _in_span(offsets, _value_span(text, obj, "arguments")) if obj else []
    return {
        "lp_mean": mean,
        "lp_min": least,
        "lp_sum": sum(lps) if lps else None,
        "lp_first": lps[0] if lps else None,
        "lp_call_mean": _mean(call),
        "lp_call_min": min(call) if call else None,
        "lp_name_mean": _mean(name),
        "lp_args_mean": _mean(args),
        "lp_args_min": min(args) if args else None,
    }
