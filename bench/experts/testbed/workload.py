"""The testbed's requests: short BFCL-like tool-calling requests, Poisson arrivals, one SLO.

The requests are synthetic (a user turn naming a city, a date or an amount, and two or three
tools to choose from), so the run needs no data files; their size (a few hundred prompt tokens,
a one-call answer of 20-40 tokens) is that of BFCL's "simple" and "multiple" categories.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

CITIES = ("Oslo", "Lisbon", "Nairobi", "Osaka", "Quito", "Perth", "Tallinn", "Dakar", "Hanoi", "Lima")

TOOLS: list[dict[str, Any]] = [
    {"type": "function", "function": {
        "name": "get_weather", "description": "Current weather in a city",
        "parameters": {"type": "object", "properties": {
            "city": {"type": "string", "description": "city name"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
            "required": ["city", "unit"]}}},
    {"type": "function", "function": {
        "name": "convert_currency", "description": "Convert an amount between currencies",
        "parameters": {"type": "object", "properties": {
            "amount": {"type": "number"}, "from_currency": {"type": "string"},
            "to_currency": {"type": "string"}},
            "required": ["amount", "from_currency", "to_currency"]}}},
    {"type": "function", "function": {
        "name": "book_table", "description": "Book a restaurant table",
        "parameters": {"type": "object", "properties": {
            "restaurant": {"type": "string"}, "people": {"type": "integer"},
            "time": {"type": "string", "description": "HH:MM"}},
            "required": ["restaurant", "people"]}}},
]

PROMPTS = (
    "What is the weather in {city} right now, in celsius?",
    "Convert {amount} euros to US dollars.",
    "Book a table for {people} at Casa {city} at 19:30.",
    "How warm is it in {city}? Answer in fahrenheit.",
)


def request(rng: random.Random) -> dict[str, Any]:
    text = rng.choice(PROMPTS).format(city=rng.choice(CITIES), amount=rng.randint(5, 900),
                                      people=rng.randint(2, 8))
    tools = TOOLS if rng.random() < 0.5 else TOOLS[:2]
    return {"model": "auto", "messages": [{"role": "user", "content": text}], "tools": tools,
            "temperature": 0}


@dataclass(frozen=True, slots=True)
class Arrival:
    t_s: float
    body: dict[str, Any]


def poisson(rate_rps: float, duration_s: float, seed: int) -> list[Arrival]:
    """Arrivals of a Poisson process over ``duration_s``, each with its request."""
    rng = random.Random(seed)
    out: list[Arrival] = []
    t = rng.expovariate(rate_rps)
    while t < duration_s:
        out.append(Arrival(t, request(rng)))
        t += rng.expovariate(rate_rps)
    return out
