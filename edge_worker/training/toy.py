"""A learnable toy task in the export's format: always call ``get_weather`` with the prompt's city.

Used by the tests and by ``netgpt train make-toy-data`` to try the pipeline without logged
traffic. ``get_time`` is offered too, so the function name is a real choice.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

CITIES = (
    "Paris", "London", "Tokyo", "Berlin", "Madrid", "Rome", "Oslo", "Cairo",
    "Lima", "Seoul", "Delhi", "Sydney",
)  # fmt: skip
PROMPTS = (
    "What is the weather in {city}?",
    "Is it raining in {city} today?",
    "Weather forecast for {city} please.",
    "How warm is it in {city} right now?",
)
TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather for a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "get_time",
            "description": "Local time in a timezone",
            "parameters": {
                "type": "object",
                "properties": {"timezone": {"type": "string"}},
                "required": ["timezone"],
            },
        },
    },
]


def toy_record(index: int, city: str, prompt: str) -> dict[str, Any]:
    call = {
        "id": f"call_{index}",
        "type": "function",
        "function": {"name": "get_weather", "arguments": json.dumps({"city": city})},
    }
    return {
        "id": f"toy-{index}",
        "request_hash": f"toy{index:08d}",
        "messages": [
            {"role": "user", "content": prompt.format(city=city)},
            {"role": "assistant", "content": None, "tool_calls": [call]},
        ],
        "tools": TOOLS,
    }


def toy_records(n: int, seed: int, start: int = 0) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [toy_record(start + i, rng.choice(CITIES), rng.choice(PROMPTS)) for i in range(n)]


def write_toy_dataset(out: Path, n_train: int = 64, n_validation: int = 16, seed: int = 0) -> Path:
    """Write ``train-00000.jsonl`` and ``validation-00000.jsonl`` as the export would."""
    out.mkdir(parents=True, exist_ok=True)
    for split, n, start in (("train", n_train, 0), ("validation", n_validation, n_train)):
        lines = [json.dumps(r) for r in toy_records(n, seed + start, start)]
        (out / f"{split}-00000.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out
