"""The request the load benchmark sends: a realistic tool-calling body of about 1.5 KB.

A travel assistant in its second turn (system prompt, user question, an earlier tool call and its
result, the follow-up) with three tools whose parameters are typical JSON Schemas (enums,
formats, nested objects, required lists). Every target receives these exact bytes; only
``model`` differs (``auto`` for the gateway, the configured model name for LiteLLM).
"""

from __future__ import annotations

from typing import Any

import orjson

TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather for a city.",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string", "description": "City name"},
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                },
                "required": ["city", "unit"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "search_flights",
            "description": "Search one-way flights on a date.",
            "parameters": {
                "type": "object",
                "properties": {
                    "origin": {"type": "string", "description": "IATA code"},
                    "destination": {"type": "string", "description": "IATA code"},
                    "date": {"type": "string", "description": "Departure date, YYYY-MM-DD"},
                    "passengers": {"type": "integer", "minimum": 1},
                },
                "required": ["origin", "destination", "date"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "book_hotel",
            "description": "Reserve a hotel room for given nights.",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string"},
                    "check_in": {"type": "string"},
                    "nights": {"type": "integer", "minimum": 1},
                    "guests": {
                        "type": "object",
                        "properties": {
                            "adults": {"type": "integer", "minimum": 1},
                        },
                        "required": ["adults"],
                    },
                },
                "required": ["city", "check_in", "nights"],
            },
        },
    },
]

MESSAGES: list[dict[str, Any]] = [
    {
        "role": "system",
        "content": "You are a travel assistant. Call a tool when it helps.",
    },
    {"role": "user", "content": "I fly to Oslo next Friday. Will it be cold there?"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Oslo", "unit": "celsius"}'},
            }
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": '{"temp_c": 4, "sky": "overcast"}'},
    {"role": "user", "content": "Find me a flight from Berlin on 2025-03-14."},
]


def request_body(model: str = "auto") -> dict[str, Any]:
    """The benchmark's chat completion request for ``model``."""
    return {
        "model": model,
        "messages": MESSAGES,
        "tools": TOOLS,
        "tool_choice": "auto",
        "temperature": 0,
        "max_tokens": 256,
    }


def request_bytes(model: str = "auto") -> bytes:
    return orjson.dumps(request_body(model))
