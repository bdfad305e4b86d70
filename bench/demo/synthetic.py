"""A small built-in set of *synthetic* tool-calling requests, for a clone without the data
directory. Generated in code from a few made-up tools (not copies of BFCL), with simulated
outcomes for both models; the demo says so on screen.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from bench.common.bfcl import Outcome, Request

Gen = Callable[[random.Random], tuple[str, dict[str, Any]]]
_CITIES = ["Lisbon", "Osaka", "Nairobi", "Quito", "Tallinn", "Perth", "Montreal", "Seville"]
_CURRENCIES = ["EUR", "USD", "JPY", "GBP", "CHF", "KES"]
_LANGS = ["French", "German", "Japanese", "Swahili", "Portuguese"]


def _tool(
    name: str, description: str, props: dict[str, Any], required: list[str]
) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {"type": "object", "properties": props, "required": required},
        },
    }


TOOLS: dict[str, dict[str, Any]] = {
    "get_forecast": _tool(
        "get_forecast",
        "Weather forecast for a city",
        {
            "city": {"type": "string"},
            "days": {"type": "integer"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        },
        ["city", "days"],
    ),
    "convert_currency": _tool(
        "convert_currency",
        "Convert an amount between currencies",
        {"amount": {"type": "number"}, "source": {"type": "string"}, "target": {"type": "string"}},
        ["amount", "source", "target"],
    ),
    "book_table": _tool(
        "book_table",
        "Reserve a restaurant table",
        {"city": {"type": "string"}, "people": {"type": "integer"}, "time": {"type": "string"}},
        ["city", "people", "time"],
    ),
    "translate_text": _tool(
        "translate_text",
        "Translate a short text",
        {"text": {"type": "string"}, "language": {"type": "string"}},
        ["text", "language"],
    ),
    "set_alarm": _tool(
        "set_alarm",
        "Set an alarm",
        {"hour": {"type": "integer"}, "minute": {"type": "integer"}, "label": {"type": "string"}},
        ["hour", "minute"],
    ),
}


def _forecast(rng: random.Random) -> tuple[str, dict[str, Any]]:
    city, days = rng.choice(_CITIES), rng.randint(1, 7)
    return f"What's the weather in {city} for the next {days} days?", {
        "get_forecast": {"city": [city], "days": [days], "unit": ["", "celsius"]}
    }


def _currency(rng: random.Random) -> tuple[str, dict[str, Any]]:
    amount = float(rng.randint(5, 900))
    a, b = rng.sample(_CURRENCIES, 2)
    return f"How much is {amount:g} {a} in {b}?", {
        "convert_currency": {"amount": [amount], "source": [a], "target": [b]}
    }


def _table(rng: random.Random) -> tuple[str, dict[str, Any]]:
    city, people, hour = rng.choice(_CITIES), rng.randint(2, 8), rng.randint(18, 21)
    return f"Book a table for {people} in {city} at {hour}:00.", {
        "book_table": {"city": [city], "people": [people], "time": [f"{hour}:00"]}
    }


def _translate(rng: random.Random) -> tuple[str, dict[str, Any]]:
    lang = rng.choice(_LANGS)
    text = rng.choice(["good morning", "where is the station", "thank you very much"])
    return f"Translate '{text}' into {lang}.", {
        "translate_text": {"text": [text], "language": [lang]}
    }


def _alarm(rng: random.Random) -> tuple[str, dict[str, Any]]:
    hour, minute = rng.randint(5, 9), rng.choice([0, 15, 30, 45])
    return f"Wake me at {hour}:{minute:02d}.", {
        "set_alarm": {"hour": [hour], "minute": [minute], "label": [""]}
    }


_GENERATORS: dict[str, Gen] = {
    "get_forecast": _forecast,
    "convert_currency": _currency,
    "book_table": _table,
    "translate_text": _translate,
    "set_alarm": _alarm,
}
_OFF_TOPIC = [
    "Tell me a joke about penguins.",
    "Who wrote Don Quixote?",
    "Summarise the plot of Hamlet.",
]
# error types as BFCL names them; the first three are ones a schema check catches
_EDGE_ERRORS = [
    ("simple_function_checker:missing_required", 0.08),
    ("type_error:simple", 0.06),
    ("simple_function_checker:wrong_func_name", 0.04),
    ("value_error:string", 0.82),
]


def _outcome(
    rng: random.Random, p_correct: float, latency: float | None, tokens: tuple[int, int]
) -> Outcome:
    if rng.random() < p_correct:
        return Outcome(True, "", latency, *tokens)
    kinds, weights = zip(*_EDGE_ERRORS, strict=True)
    return Outcome(False, rng.choices(kinds, weights)[0], latency, *tokens)


def synthetic_requests(n: int = 240, seed: int = 0) -> list[Request]:
    """``n`` generated requests: one tool (simple), several (multiple), two calls (parallel)
    or none that fits (relevance), with simulated edge (78 % right) and cloud (92 %) outcomes."""
    rng = random.Random(seed)
    names = sorted(TOOLS)
    out: list[Request] = []
    for i in range(n):
        kind = rng.choices(
            ["simple", "multiple_function", "parallel_function", "relevance"],
            [0.45, 0.3, 0.15, 0.1],
        )[0]
        name = rng.choice(names)
        question, truth = _GENERATORS[name](rng)
        tools = [TOOLS[name]]
        ground: dict[str, Any] | None = truth
        if kind == "multiple_function":
            tools += [TOOLS[other] for other in rng.sample([x for x in names if x != name], 2)]
            rng.shuffle(tools)
        elif kind == "parallel_function":
            q2, t2 = _GENERATORS[name](rng)
            question = f"{question} Also: {q2}"
            ground = {f"{name}_1": truth[name], f"{name}_2": t2[name]}
        elif kind == "relevance":
            question, ground = rng.choice(_OFF_TOPIC), None
        tokens = (60 + 45 * len(tools) + len(question) // 4, 18 + 14 * len(ground or {"": 0}))
        cloud_latency = round(rng.lognormvariate(-0.1, 0.45), 3)  # median about 0.9 s
        out.append(
            Request(
                prompt_id=f"synthetic_{kind}_{i}",
                category=kind,
                question=question,
                tools=tuple(tools),
                ground_truth=ground,
                edge=_outcome(rng, 0.78, None, tokens),
                cloud=_outcome(rng, 0.92, cloud_latency, tokens),
            )
        )
    return out
