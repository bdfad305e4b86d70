"""Handwritten tool-calling requests, forced to the real edge through the real gateway.

    python -m bench.edge_check [--gateway URL] [--out FILE]

Without ``--gateway`` it starts everything itself: llama-server with SmolLM2 (LlamaServer), the
fake cloud (never used: every request says model=edge) and ``netgpt serve`` with the llama.cpp
recipe (flavour llamacpp, call prefill, draft cap). It prints, per request, the status,
the latency, whether the answer is a tool call that the request's own schema accepts, and a
summary: this is the check a new user's first session amounts to. The requests are written here
by hand (not BFCL), in several styles: one tool, several tools, nested objects, enums, arrays,
a follow-up turn after a tool result, a prose question with tools offered, tool_choice variants.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import jsonschema


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


def schema_ok(body: dict[str, Any], calls: list[dict[str, Any]]) -> bool:
    tools = {t["function"]["name"]: t["function"]["parameters"] for t in body["tools"]}
    if not calls:
        return False
    for call in calls:
        f = call.get("function") or {}
        if f.get("name") not in tools:
            return False
        try:
            jsonschema.validate(json.loads(f.get("arguments") or ""), tools[f["name"]])
        except (ValueError, jsonschema.ValidationError):
            return False
    return True


def calls_from_sse(text: str) -> list[dict[str, Any]]:
    calls: dict[int, dict[str, Any]] = {}
    for line in text.splitlines():
        if not line.startswith("data: ") or line == "data: [DONE]":
            continue
        chunk = json.loads(line[6:])
        for choice in chunk.get("choices") or ():
            for d in (choice.get("delta") or {}).get("tool_calls") or ():
                c = calls.setdefault(d["index"], {"function": {"name": None, "arguments": ""}})
                f = d.get("function") or {}
                c["function"]["name"] = c["function"]["name"] or f.get("name")
                c["function"]["arguments"] += f.get("arguments") or ""
    return list(calls.values())


def run(gateway: str, out: Path | None) -> int:
    rows = []
    with httpx.Client(timeout=120) as http:
        for name, body in REQUESTS:
            req = {"model": "edge", **body}
            started = time.perf_counter()
            r = http.post(gateway + "/v1/chat/completions", json=req)
            elapsed = time.perf_counter() - started
            if r.status_code == 200 and body.get("stream"):
                calls = calls_from_sse(r.text)
                tokens = None
            elif r.status_code == 200:
                msg = r.json()["choices"][0]["message"]
                calls = msg.get("tool_calls") or []
                tokens = r.json().get("usage", {}).get("completion_tokens")
            else:
                calls, tokens = [], None
            row = {"name": name, "status": r.status_code, "latency_s": round(elapsed, 2),
                   "calls": len(calls), "schema_valid_call": schema_ok(body, calls),
                   "completion_tokens": tokens, "reason": r.headers.get("x-netgpt-reason")}
            rows.append(row)
            print(f"{name:14s} {r.status_code} {elapsed:6.2f}s calls={len(calls)} "  # noqa: T201
                  f"valid={row['schema_valid_call']} tokens={tokens}", flush=True)
    ok = sum(r["status"] == 200 for r in rows)
    valid = sum(r["schema_valid_call"] for r in rows)
    lat = [r["latency_s"] for r in rows]
    print(f"\n{len(rows)} requests: {ok} answered 200, {len(rows) - ok} errors, "  # noqa: T201
          f"{valid} schema-valid calls; latency p50 {statistics.median(lat):.2f} s, "
          f"max {max(lat):.2f} s")
    if out:
        out.write_text(json.dumps(rows, indent=1))
    return 0 if ok == len(rows) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.edge_check", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gateway", default=None,
                        help="a running gateway's base URL; default: start llama-server, a fake "
                             "cloud and the gateway here")
    parser.add_argument("--out", type=Path, default=None, help="write the per-request rows (JSON)")
    args = parser.parse_args(argv)
    if args.gateway:
        return run(args.gateway.rstrip("/"), args.out)
    import os
    import tempfile

    from bench.load import procs
    from edge_worker.llamacpp.server import LlamaServer

    with LlamaServer("smollm2", parallel=2) as edge, tempfile.TemporaryDirectory() as tmp:
        logdir = Path(tmp)
        cloud_port, gw_port = procs.free_port(), procs.free_port()
        cloud = procs.start("cloud", [sys.executable, "-m", "bench.fakes", "--name", "cloud",
                                      "--port", str(cloud_port)], cpus=None, logdir=logdir)
        env = {**os.environ, "NETGPT_EDGE_BASE_URL": edge.base_url, "NETGPT_EDGE_MODEL": "smollm2",
               "NETGPT_EDGE_FLAVOR": "llamacpp", "NETGPT_EDGE_CALL_PREFILL": "<tool_call>\\n",
               "NETGPT_EDGE_TIMEOUT_S": "60", "NETGPT_CLOUD_API_KEY": "sk-local-fake-cloud",
               "NETGPT_CLOUD_BASE_URL": f"http://127.0.0.1:{cloud_port}/v1",
               "NETGPT_NETWORK_PROBES_ENABLED": "false", "NETGPT_DATA_DIR": str(logdir / "var"),
               "NETGPT_LOG_REQUESTS": "false"}
        gw = procs.start("gateway", [sys.executable, "-m", "gateway.cli", "serve", "--host",
                                     "127.0.0.1", "--port", str(gw_port)],
                         cpus=None, logdir=logdir, env=env)
        try:
            procs.wait_ready(cloud, f"http://127.0.0.1:{cloud_port}/v1/models")
            procs.wait_ready(gw, f"http://127.0.0.1:{gw_port}/healthz")
            return run(f"http://127.0.0.1:{gw_port}", args.out)
        finally:
            gw.stop()
            cloud.stop()

if __name__ == "__main__":
    sys.exit(main())
