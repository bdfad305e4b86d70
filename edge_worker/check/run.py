"""Send the check's requests (model=edge) through a gateway and judge each answer.

Per request: the status, the latency, the completion tokens, and whether the answer is a tool
call that the request's own schema accepts (validated with fastjsonschema, a product
dependency). HTTP is the standard library's: one request at a time needs no pool.
"""

from __future__ import annotations

import json
import statistics
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import fastjsonschema

from edge_worker.check.requests import REQUESTS


@dataclass(frozen=True)
class Row:
    name: str
    status: int
    latency_s: float
    calls: int
    schema_valid_call: bool
    completion_tokens: int | None
    reason: str | None


def schema_ok(body: dict[str, Any], calls: Sequence[dict[str, Any]]) -> bool:
    """Every call names an offered tool and its arguments are valid against that tool's schema."""
    tools = {t["function"]["name"]: t["function"]["parameters"] for t in body["tools"]}
    if not calls:
        return False
    for call in calls:
        f = call.get("function") or {}
        if f.get("name") not in tools:
            return False
        try:
            fastjsonschema.validate(tools[f["name"]], json.loads(f.get("arguments") or ""))
        except (ValueError, fastjsonschema.JsonSchemaException):
            return False
    return True


def calls_from_sse(text: str) -> list[dict[str, Any]]:
    """The tool calls a chat-completions SSE stream assembles to."""
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


def _post(url: str, body: dict[str, Any], key: str | None,
          timeout_s: float) -> tuple[int, dict[str, str], str]:
    headers = {"content-type": "application/json"}
    if key:
        headers["authorization"] = f"Bearer {key}"
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:  # noqa: S310 (user's URL)
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read().decode()


def check_one(gateway: str, name: str, body: dict[str, Any], key: str | None,
              timeout_s: float) -> Row:
    started = time.perf_counter()
    try:
        status, headers, text = _post(gateway + "/v1/chat/completions", {"model": "edge", **body},
                                      key, timeout_s)
    except (urllib.error.URLError, OSError):
        status, headers, text = 0, {}, ""
    elapsed = time.perf_counter() - started
    calls: list[dict[str, Any]] = []
    tokens = None
    if status == 200 and body.get("stream"):
        calls = calls_from_sse(text)
    elif status == 200:
        answer = json.loads(text)
        calls = answer["choices"][0]["message"].get("tool_calls") or []
        tokens = (answer.get("usage") or {}).get("completion_tokens")
    return Row(name, status, round(elapsed, 2), len(calls), schema_ok(body, calls), tokens,
               headers.get("x-netgpt-reason"))


def run_checks(gateway: str, say: Callable[[str], None], *, key: str | None = None,
               timeout_s: float = 120.0,
               requests: Sequence[tuple[str, dict[str, Any]]] = REQUESTS) -> list[Row]:
    """Every request in turn, one line each as it is answered."""
    rows = []
    for name, body in requests:
        row = check_one(gateway, name, body, key, timeout_s)
        rows.append(row)
        say(f"{name:14s} {row.status} {row.latency_s:6.2f}s calls={row.calls} "
            f"valid={row.schema_valid_call} tokens={row.completion_tokens}")
    return rows


def summary(rows: Sequence[Row]) -> str:
    ok = sum(r.status == 200 for r in rows)
    valid = sum(r.schema_valid_call for r in rows)
    lat = [r.latency_s for r in rows] or [0.0]
    return (f"{len(rows)} requests: {ok} answered 200, {len(rows) - ok} errors, "
            f"{valid} schema-valid calls; latency p50 {statistics.median(lat):.2f} s, "
            f"max {max(lat):.2f} s")


def as_json(rows: Sequence[Row]) -> str:
    return json.dumps([asdict(r) for r in rows], indent=1)
