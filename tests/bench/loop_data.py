"""A small BFCL-shaped data folder for the learning-loop tests, written by the test itself.

Same layout as the shared data the benchmark reads (``bfcl/v1`` questions and answers,
``outcomes/bfcl_2024-08-11_selected_long.csv`` with the replayed cloud's recorded results), but
with natural-language questions a small model can attempt: weather, hotels, currency. The cloud
is right on about 90% of them; its recorded latency is short so the test stays quick.
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path
from typing import Any

CLOUD = "gpt-4o-2024-08-06-FC"
CITIES = ("Oslo", "Cork", "Paris", "Lima", "Tokyo", "Cairo", "Berlin", "Madrid")

WEATHER = {
    "name": "get_weather",
    "description": "Weather forecast for a city over the next days.",
    "parameters": {"type": "dict", "properties": {
        "city": {"type": "string", "description": "The city name."},
        "days": {"type": "integer", "description": "How many days ahead."},
    }, "required": ["city", "days"]},
}
HOTEL = {
    "name": "book_hotel",
    "description": "Book a hotel room in a city for a number of nights.",
    "parameters": {"type": "dict", "properties": {
        "city": {"type": "string", "description": "The city name."},
        "nights": {"type": "integer", "description": "Number of nights."},
    }, "required": ["city", "nights"]},
}
CURRENCY = {
    "name": "convert_currency",
    "description": "Convert an amount of money from one currency to another.",
    "parameters": {"type": "dict", "properties": {
        "amount": {"type": "float", "description": "The amount."},
        "from_currency": {"type": "string", "description": "ISO code, e.g. USD."},
        "to_currency": {"type": "string", "description": "ISO code, e.g. EUR."},
    }, "required": ["amount", "from_currency", "to_currency"]},
}


def _item(category: str, i: int, rng: random.Random) -> tuple[dict[str, Any], dict[str, Any] | None]:
    city, days, nights = rng.choice(CITIES), rng.randint(1, 7), rng.randint(1, 5)
    pid = f"{category}_{i}"
    if category == "simple":
        if i % 2:
            q = f"What will the weather be like in {city} over the next {days} days?"
            truth = {"get_weather": {"city": [city], "days": [days]}}
            funcs: Any = WEATHER
        else:
            amount = rng.choice([10, 25, 100, 250])
            q = f"How much is {amount} USD in EUR?"
            truth = {"convert_currency": {"amount": [float(amount)], "from_currency": ["USD"],
                                          "to_currency": ["EUR"]}}
            funcs = CURRENCY
    elif category == "multiple_function":
        q = f"Please book a hotel in {city} for {nights} nights."
        truth = {"book_hotel": {"city": [city], "nights": [nights]}}
        funcs = [WEATHER, HOTEL, CURRENCY]
    elif category == "parallel_function":
        other = rng.choice([c for c in CITIES if c != city])
        q = f"Give me the weather in {city} for {days} days and in {other} for {nights} days."
        truth = {"get_weather_1": {"city": [city], "days": [days]},
                 "get_weather_2": {"city": [other], "days": [nights]}}
        funcs = WEATHER
    elif category == "parallel_multiple_function":
        q = f"Check the weather in {city} for {days} days and book a hotel there for {nights} nights."
        truth = {"get_weather": {"city": [city], "days": [days]},
                 "book_hotel": {"city": [city], "nights": [nights]}}
        funcs = [WEATHER, HOTEL]
    else:  # relevance: no offered tool fits
        q = rng.choice(["Tell me a joke about cats.", "Who wrote Hamlet?",
                        "What is the capital of Peru?", "Summarise the plot of Moby Dick."])
        q = f"{q} (#{i})"
        truth = None
        funcs = WEATHER
    return {"id": pid, "question": q, "function": funcs}, (
        {"id": pid, "ground_truth": truth} if truth is not None else None
    )


def write_loop_data(root: Path, seed: int = 0) -> Path:
    rng = random.Random(seed)
    v1 = root / "bfcl" / "v1"
    (v1 / "possible_answer").mkdir(parents=True)
    rows = []
    sizes = {"simple": 28, "multiple_function": 16, "parallel_function": 6,
             "parallel_multiple_function": 4, "relevance": 10}
    for category, n in sizes.items():
        questions, answers = [], []
        for i in range(n):
            question, answer = _item(category, i, rng)
            questions.append(question)
            if answer is not None:
                answers.append(answer)
            ok = rng.random() < 0.9
            rows.append([CLOUD, category, i, question["id"], int(ok),
                         "" if ok else "value_error:string", f"{rng.uniform(0.05, 0.2):.3f}",
                         rng.randint(80, 300), rng.randint(15, 50)])
        name = f"gorilla_openfunctions_v1_test_{category}.json"
        (v1 / name).write_text("\n".join(json.dumps(q) for q in questions) + "\n")
        if answers:
            (v1 / "possible_answer" / name).write_text("\n".join(json.dumps(a) for a in answers) + "\n")
    (root / "outcomes").mkdir()
    with (root / "outcomes" / "bfcl_2024-08-11_selected_long.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["model", "category", "index", "prompt_id", "correct", "error_type",
                    "latency_s", "input_tokens", "output_tokens"])
        w.writerows(rows)
    return root
