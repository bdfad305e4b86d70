"""The handwritten tool-calling requests of ``netgpt edge check`` (not BFCL), in several styles:
one tool, several tools, nested objects, enums, arrays, a follow-up turn after a tool result, a
prose question with tools offered, tool_choice variants, streaming, sampling options.
"""

from __future__ import annotations

from typing import Any


def fn(name: str, props: dict[str, Any], required: list[str], desc: str = "") -> dict[str, Any]:
    return {"type": "function", "function": {
        "name": name, "description": desc or name.replace("_", " "),
        "parameters": {"type": "object", "properties": props, "required": required}}}


S = {"type": "string"}
I = {"type": "integer"}  # noqa: E741
N = {"type": "number"}
WEATHER = fn("get_weather", {"city": S, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
             ["city"], "Current weather in a city")
FLIGHTS = fn("search_flights", {"origin": S, "destination": S, "date": {**S, "description": "YYYY-MM-DD"},
                                "passengers": I}, ["origin", "destination", "date"])
EMAIL = fn("send_email", {"to": S, "subject": S, "body": S}, ["to", "subject", "body"])
CALC = fn("calculate", {"expression": S}, ["expression"], "Evaluate an arithmetic expression")
STOCK = fn("get_stock_price", {"ticker": S}, ["ticker"])
CONVERT = fn("convert_currency", {"amount": N, "from_currency": S, "to_currency": S},
             ["amount", "from_currency", "to_currency"])
TIMER = fn("set_timer", {"minutes": I, "label": S}, ["minutes"])
TRANSLATE = fn("translate", {"text": S, "target_language": S}, ["text", "target_language"])
ORDER = fn("place_order", {"items": {"type": "array", "items": {"type": "object", "properties": {
    "sku": S, "quantity": I}, "required": ["sku", "quantity"]}}, "express": {"type": "boolean"}},
    ["items"])
CALENDAR = fn("create_event", {"title": S, "start": S, "duration_minutes": I,
                               "attendees": {"type": "array", "items": S}}, ["title", "start"])
LIGHTS = fn("set_lights", {"room": {"type": "string", "enum": ["kitchen", "bedroom", "living room"]},
                           "on": {"type": "boolean"}, "brightness": {"type": "integer", "minimum": 0,
                                                                     "maximum": 100}}, ["room", "on"])
SEARCH = fn("web_search", {"query": S, "max_results": I}, ["query"])


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


REQUESTS: list[tuple[str, dict[str, Any]]] = [
    ("weather", {"messages": user("What's the weather like in Paris right now?"), "tools": [WEATHER]}),
    ("weather-unit", {"messages": user("Is it cold in Oslo? Give me fahrenheit."), "tools": [WEATHER]}),
    ("flights", {"messages": user("Find flights from Boston to Denver on 2025-03-14 for 2 people."),
                 "tools": [FLIGHTS, WEATHER]}),
    ("email", {"messages": user("Email bob@example.com that the meeting moved to 3pm, subject 'Meeting'."),
               "tools": [EMAIL]}),
    ("calc", {"messages": user("What is 17 times 23 plus 4?"), "tools": [CALC]}),
    ("stock", {"messages": user("How is Apple stock doing today?"), "tools": [STOCK, SEARCH]}),
    ("convert", {"messages": user("Convert 250 euros to US dollars."), "tools": [CONVERT, CALC]}),
    ("timer", {"messages": user("Set a 12 minute timer for the pasta."), "tools": [TIMER]}),
    ("translate", {"messages": user("Translate 'good morning' into Spanish."), "tools": [TRANSLATE]}),
    ("order", {"messages": user("Order 2 of SKU A-100 and 1 of SKU B-7, express shipping."),
               "tools": [ORDER]}),
    ("calendar", {"messages": user("Schedule 'Design review' tomorrow at 10:00 for 45 minutes with Ana and Raj."),
                  "tools": [CALENDAR, EMAIL]}),
    ("lights", {"messages": user("Turn on the kitchen lights at 60 percent."), "tools": [LIGHTS]}),
    ("lights-off", {"messages": user("Switch off the bedroom light."), "tools": [LIGHTS, TIMER]}),
    ("search", {"messages": user("Search the web for the tallest building in Africa."),
                "tools": [SEARCH, WEATHER, CALC]}),
    ("system", {"messages": [{"role": "system", "content": "You are a travel assistant."},
                             *user("Weather in Lisbon please")], "tools": [WEATHER, FLIGHTS]}),
    ("followup", {"messages": [
        *user("What's the weather in Rome?"),
        {"role": "assistant", "content": None, "tool_calls": [{"id": "call_1", "type": "function",
         "function": {"name": "get_weather", "arguments": "{\"city\": \"Rome\"}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "{\"temp_c\": 21, \"sky\": \"clear\"}"},
        *user("And in Madrid?")], "tools": [WEATHER]}),
    ("prose", {"messages": user("Tell me a joke about cats."), "tools": [WEATHER]}),
    ("required", {"messages": user("Paris weather"), "tools": [WEATHER], "tool_choice": "required"}),
    ("named", {"messages": user("I need to know about Berlin."), "tools": [WEATHER, SEARCH],
               "tool_choice": {"type": "function", "function": {"name": "get_weather"}}}),
    ("parallel", {"messages": user("Weather in Tokyo and in Seoul?"), "tools": [WEATHER]}),
    ("long-tools", {"messages": user("Convert 10 GBP to JPY."),
                    "tools": [WEATHER, FLIGHTS, EMAIL, CALC, STOCK, CONVERT, TIMER, TRANSLATE]}),
    ("numbers", {"messages": user("Compute (3.5 + 2.25) / 7"), "tools": [CALC]}),
    ("max-tokens", {"messages": user("Weather in Cairo?"), "tools": [WEATHER], "max_tokens": 40}),
    ("temperature", {"messages": user("Weather in Nairobi?"), "tools": [WEATHER], "temperature": 0.7}),
    ("stream", {"messages": user("Set a timer for 5 minutes called tea."), "tools": [TIMER],
                "stream": True}),
    ("ambiguous", {"messages": user("Do the thing."), "tools": [TIMER, LIGHTS]}),
    ("multilingual", {"messages": user("Quel temps fait-il à Marseille ?"), "tools": [WEATHER]}),
]
