"""Sending requests through the running gateway and scoring the answers with the full BFCL v1
AST checker (``bench.common.ast_check``: the port the replays agree with on 1,240/1,240 recorded
verdicts per model; each row keeps BFCL's error type of the edge draft and of the answer).

Held-out measurement, per request, in this order (the first pass sees a cold prompt cache, so
its latency is the one a user would see):

1. ``model=auto`` through the gateway: the product's answer (route, reason, latency, cost);
2. ``model=edge`` through the gateway: the edge model's own draft as the gateway asks for it;
3. straight to llama-server with the *other* prefill setting than the gateway's: with the
   prefill when the gateway runs without (what the edge would have answered when forced into a
   call: the counterfactual behind the offload marker's precision), without it when the gateway
   uses it (does the model open a call unprompted?).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from bench.common.ast_check import Verdict, check
from bench.common.bfcl import Request
from bench.loop.data import body
from bench.loop.verifier import held_out_auc
from gateway.routing.offload import offload_tool_definition
from gateway.routing.schema_guard import ValidatorCache, check_tool_calls, tool_schemas

OFFLOAD_MARKER = "<unknown>"
OFFLOAD_TOOL = "request_cloud_assistance"


@dataclass
class Answer:
    status: int
    latency_s: float
    message: dict[str, Any]
    headers: dict[str, str]
    error: str = ""

    @property
    def calls(self) -> list[dict[str, Any]]:
        return list(self.message.get("tool_calls") or [])

    @property
    def content(self) -> str:
        return str(self.message.get("content") or "")


def post(url: str, payload: dict[str, Any], timeout_s: float = 120.0) -> Answer:
    data = json.dumps(payload).encode()
    request = urllib.request.Request(url, data=data, headers={"content-type": "application/json"})
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as resp:  # noqa: S310 (loopback)
            raw = resp.read()
            headers = {k.lower(): v for k, v in resp.headers.items()}
            status = int(resp.status)
    except urllib.error.HTTPError as exc:
        raw, headers, status = exc.read(), {k.lower(): v for k, v in exc.headers.items()}, exc.code
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        return Answer(0, time.perf_counter() - started, {}, {}, f"{type(exc).__name__}: {exc}")
    latency = time.perf_counter() - started
    try:
        answer = json.loads(raw)
        message = answer["choices"][0]["message"] if status == 200 else {}
        error = "" if status == 200 else str(answer.get("error", {}).get("message", ""))[:200]
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        message, error = {}, raw[:200].decode("utf-8", "replace")
    return Answer(status, latency, message or {}, headers, error)


def chat_body(request: Request, model: str) -> dict[str, Any]:
    out = body(request)
    out["model"] = model
    out["temperature"] = 0.0  # greedy everywhere: the figures do not depend on sampling luck
    return out


def direct_body(request: Request, prefill: str, max_tokens: int) -> dict[str, Any]:
    """What the gateway's llama.cpp flavour would send, with or without the call prefill."""
    out = chat_body(request, "edge")
    out.pop("x_replay_id")
    # the gateway offers the edge its offload tool too (NETGPT_ROUTING_OFFLOAD_ENABLED)
    out["tools"] = [*out["tools"], offload_tool_definition(OFFLOAD_TOOL)]
    out["max_tokens"] = max_tokens
    if prefill:
        out["messages"] = [*out["messages"], {"role": "assistant", "content": prefill}]
        out["tool_choice"] = "required"
        out["parallel_tool_calls"] = False
        out["stop"] = ["</tool_call>"]
    return out


def verdict(request: Request, answer: Answer) -> Verdict:
    """BFCL's AST verdict on an answer (an HTTP failure is wrong, error type ``http_<status>``)."""
    if answer.status != 200:
        return Verdict(False, f"http_{answer.status}")
    return check(request.category, request.tools, request.ground_truth, answer.calls)


def schema_valid(request: Request, calls: list[dict[str, Any]], cache: ValidatorCache) -> bool:
    if not calls:
        return False
    return bool(check_tool_calls(calls, tool_schemas(list(request.tools)), cache,
                                 tool_choice="required").valid)


@dataclass
class Row:
    """One held-out request's outcome in one round."""

    prompt_id: str
    category: str
    route: str
    reason: str
    status: int
    latency_s: float
    e2e_correct: bool
    edge_correct: bool  # the gateway's own edge draft (model=edge)
    edge_calls: int
    edge_schema_valid: bool
    edge_offload: bool  # the edge asked for help (reason offload_requested on the auto pass)
    unprompted_call: bool  # a call opened without the prefill
    unprompted_correct: bool
    prefilled_correct: bool  # forced into a call with the prefill
    score: float | None
    threshold: float | None
    error: str = ""
    edge_error_type: str = ""  # BFCL's error type of the edge draft ("" when right)
    e2e_error_type: str = ""


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None


@dataclass
class Measurer:
    gateway_url: str
    edge_root_url: str
    gateway_prefill: str  # what the gateway runs with ("" = none)
    prefill: str = "<tool_call>\n"
    max_tokens: int = 160
    timeout_s: float = 120.0
    cache: ValidatorCache = field(default_factory=ValidatorCache)

    def one(self, request: Request) -> Row:
        chat = self.gateway_url + "/v1/chat/completions"
        auto = post(chat, chat_body(request, "auto"), self.timeout_s)
        edge = post(chat, chat_body(request, "edge"), self.timeout_s)
        other_prefill = "" if self.gateway_prefill else self.prefill
        direct = post(self.edge_root_url + "/v1/chat/completions",
                      direct_body(request, other_prefill, self.max_tokens), self.timeout_s)
        unprompted, prefilled = (direct, edge) if self.gateway_prefill else (edge, direct)
        wants_call = request.ground_truth is not None
        reason = auto.headers.get("x-netgpt-reason", "")
        e2e, drafted = verdict(request, auto), verdict(request, edge)
        return Row(
            prompt_id=request.prompt_id,
            category=request.category,
            route=auto.headers.get("x-netgpt-route", "error"),
            reason=reason or ("error" if auto.status != 200 else ""),
            status=auto.status,
            latency_s=auto.latency_s,
            e2e_correct=e2e.correct,
            edge_correct=drafted.correct,
            edge_calls=len(edge.calls),
            edge_schema_valid=schema_valid(request, edge.calls, self.cache) if wants_call
            else not edge.calls,
            edge_offload=reason == "offload_requested" or OFFLOAD_MARKER in edge.content,
            unprompted_call=bool(unprompted.calls),
            unprompted_correct=verdict(request, unprompted).correct,
            prefilled_correct=verdict(request, prefilled).correct,
            score=_float(auto.headers.get("x-netgpt-score")),
            threshold=_float(auto.headers.get("x-netgpt-threshold")),
            error=auto.error or edge.error or direct.error,
            edge_error_type=drafted.error_type,
            e2e_error_type=e2e.error_type,
        )


def run_all(
    items: Sequence[Request],
    work: Callable[[Request], Any],
    *,
    concurrency: int,
    tick: Callable[[], None],
) -> list[Any]:
    """``work`` on every item (results in input order), ``concurrency`` at a time.

    On Ctrl-C or SIGTERM the queued items are cancelled (only those in flight finish), so
    the loop stops within one request instead of sending the rest of the round.
    """
    pool = ThreadPoolExecutor(max_workers=max(concurrency, 1))
    try:
        futures = [pool.submit(work, item) for item in items]
        out = []
        for future in futures:
            out.append(future.result())
            tick()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return out


def _rate(hits: int, n: int) -> float | None:
    return hits / n if n else None


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


def summarise(rows: list[Row], spend_usd: float) -> dict[str, Any]:
    """The round's held-out figures (definitions in the report)."""
    n = len(rows)
    tool_rows = [r for r in rows if r.category != "relevance"]
    answered = [r for r in tool_rows if not r.edge_offload]
    asked = [r for r in rows if r.edge_offload]
    categories = sorted({r.category for r in rows})
    lat = [r.latency_s for r in rows if r.status == 200]
    return {
        "n_held_out": n,
        "edge_accuracy": _rate(sum(r.edge_correct for r in rows), n),
        "edge_accuracy_by_category": {
            c: _rate(sum(r.edge_correct for r in rows if r.category == c),
                     sum(1 for r in rows if r.category == c))
            for c in categories
        },
        "edge_accuracy_prefilled": _rate(sum(r.prefilled_correct for r in rows), n),
        "edge_accuracy_unprompted": _rate(sum(r.unprompted_correct for r in rows), n),
        "schema_valid_rate": _rate(sum(r.edge_schema_valid for r in answered), len(answered)),
        "unprompted_call_rate": _rate(sum(r.unprompted_call for r in tool_rows), len(tool_rows)),
        "offload_rate": _rate(sum(r.route == "cloud" for r in rows), n),
        "edge_offload_request_rate": _rate(len(asked), n),
        "offload_marker_precision": _rate(sum(not r.prefilled_correct for r in asked), len(asked)),
        "e2e_accuracy": _rate(sum(r.e2e_correct for r in rows), n),
        "cloud_spend_usd": spend_usd,
        "latency_p50_s": _quantile(lat, 0.5),
        "latency_p95_s": _quantile(lat, 0.95),
        "errors": sum(1 for r in rows if r.status != 200),
        "reasons": {k: sum(1 for r in rows if r.reason == k) for k in sorted({r.reason for r in rows})},
        "edge_error_types": {k: sum(1 for r in rows if r.edge_error_type == k)
                             for k in sorted({r.edge_error_type for r in rows} - {""})},
        # the routed score (the verifier's once fitted) against the held-out edge correctness
        "score_auc_held_out": held_out_auc(rows),
    }


def rows_as_dicts(rows: list[Row]) -> list[dict[str, Any]]:
    return [asdict(r) for r in rows]


def cloud_cost_total(gateway_url: str) -> float:
    """``netgpt_cloud_cost_usd_total`` from the gateway's /metrics (the product's own figure)."""
    with urllib.request.urlopen(gateway_url + "/metrics", timeout=10) as resp:  # noqa: S310
        text = resp.read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith("netgpt_cloud_cost_usd_total"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def router_state(gateway_url: str) -> dict[str, Any]:
    """``GET /v1/router/state`` (calibration and verifier in force); {} when unreadable."""
    try:
        with urllib.request.urlopen(gateway_url + "/v1/router/state", timeout=10) as resp:  # noqa: S310
            state: dict[str, Any] = json.loads(resp.read())
    except (urllib.error.URLError, TimeoutError, ValueError):
        return {}
    return state
