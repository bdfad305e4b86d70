"""``python -m bench.routing.verifier_timing``'s measurement on a few synthetic requests."""

from __future__ import annotations

import json

from bench.routing.verifier_timing import ROWS, fitted_model, measure, report

TOOL = {
    "type": "function",
    "function": {
        "name": "weather_get",
        "description": "Weather forecast for a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city"],
        },
    },
}


def call(city: str, days: int) -> list[dict[str, object]]:
    args = json.dumps({"city": city, "days": days})
    return [{"function": {"name": "weather_get", "arguments": args}}]


def inputs() -> list[tuple[list[dict[str, object]], list[dict[str, object]], object]]:
    out = []
    for i, city in enumerate(("Paris", "Oslo", "Lima", "Rome", "Kyiv", "Baku")):
        ask = [{"role": "user", "content": f"Weather in {city} for {i + 1} days?"}]
        out.append((ask, [TOOL], call(city if i % 2 else "London", i + 1)))
    return out


def test_every_step_is_timed_and_reported():
    data = inputs()
    model = fitted_model(data, [i % 2 == 1 for i in range(len(data))], "edge")
    timing = measure(data, model, rounds=2)
    for _, key in ROWS:
        assert timing[f"{key}_pass_us"] > 0 and timing[f"{key}_us"] >= 0
        assert timing[f"{key}_median_us"] >= 0
    assert timing["total_warm_pass_us"] >= timing["score_pass_us"]
    assert timing["median_tools"] == 1.0
    lines = report(timing)
    assert len(lines) == len(ROWS) + 1 and lines[-1].startswith("total, warm tools")
