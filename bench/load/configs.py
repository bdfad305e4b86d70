"""The configurations operators run, as extra gateway targets of the load run (issue 22).

Each is the edge-path gateway of ``targets.start_gateway`` (same canned upstream, metrics,
request logs, network probes, dataset writer) with one thing switched on:

============  ==================================================================================
keys-local    a key file with rpm/tpm/budget limits (``NETGPT_API_KEYS_FILE``), no Redis: the
              limits are decided and kept in process (the dataset writer spools to disk; the
              edge path writes no record)
keys-redis    the same key file with ``NETGPT_REDIS_URL``: the leased limiter (admission in
              process on leases, settled with Redis in the background) — the product's mode
              with several replicas
verifier      a fitted verifier file (``NETGPT_VERIFIER_FILE``, one of
              docs/bench-routing/verifier/models) for the edge model it was fitted on
experts       ``NETGPT_EDGE_EXPERTS_FILE`` with two vLLM experts on the canned edge (their load
              gauges scraped from nginx, the in-flight counts shared through Redis)
responses     ``POST /v1/responses`` with the benchmark's conversation as Responses input items
============  ==================================================================================

Limits are far above what a run sends, so nothing is refused: what is measured is
authentication, admission and the token charge of every request.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from bench.common.bodies import MESSAGES, TOOLS, request_bytes
from bench.load.upstream import Upstream

KEY = "ngk-bench-load-key-0123456789abcdefghijklmnopqrstuvwxyz"
AUTH = f"Authorization: Bearer {KEY}"
REPO = Path(__file__).resolve().parents[2]
VERIFIER_FILE = REPO / "docs" / "bench-routing" / "verifier" / "models" / "SmolLM2-135M-Instruct.json"

KEYS_LOCAL, KEYS_REDIS, VERIFIER, EXPERTS, RESPONSES = (
    "keys-local", "keys-redis", "verifier", "experts", "responses")
SHARED = "shared-state"  # the worker-scaling phase: keys-redis + experts, 1 and 2 workers
LABELS = {
    KEYS_LOCAL: "gateway, edge, keys + limits in process",
    KEYS_REDIS: "gateway, edge, keys + limits via Redis",
    VERIFIER: "gateway, verifier on",
    EXPERTS: "gateway, edge, experts file (2)",
    RESPONSES: "gateway, edge, POST /v1/responses",
}
ALL = tuple(LABELS)


@dataclass(frozen=True)
class Config:
    """A gateway target: extra environment (``None`` removes a variable), the endpoint, its
    body and the header lines the load generators add."""

    name: str
    env: Mapping[str, str | None] = field(default_factory=dict)
    path: str = "/v1/chat/completions"
    body: bytes = b""
    headers: tuple[str, ...] = ()


def responses_body() -> bytes:
    """The benchmark conversation as a Responses request: the system prompt as instructions,
    the turns as message / function_call / function_call_output items, flat function tools."""
    items: list[dict[str, Any]] = []
    instructions = None
    for message in MESSAGES:
        role = message["role"]
        if role == "system":
            instructions = message["content"]
        elif role == "tool":
            items.append({"type": "function_call_output", "call_id": message["tool_call_id"],
                          "output": message["content"]})
        elif message.get("tool_calls"):
            for call in message["tool_calls"]:
                items.append({"type": "function_call", "call_id": call["id"],
                              "name": call["function"]["name"], "arguments": call["function"]["arguments"]})
        else:
            items.append({"type": "message", "role": role, "content": message["content"]})
    tools = [{"type": "function", **tool["function"]} for tool in TOOLS]
    return orjson.dumps({"model": "auto", "instructions": instructions, "input": items, "tools": tools,
                         "tool_choice": "auto", "temperature": 0, "max_output_tokens": 256})


def write_key_file(path: Path) -> Path:
    from gateway.tenancy.keys import KeyEntry, hash_key, write_entries
    from gateway.tenancy.limits import KeyLimits

    limits = KeyLimits(rpm=1_000_000_000, tpm=1_000_000_000_000, budget_usd=1e12, budget_period_s=86_400)
    write_entries(path, [KeyEntry("bench", hash_key(KEY), limits)])
    return path


def write_experts_file(path: Path, upstream: Upstream) -> Path:
    base = upstream.base_url("edge")
    metrics = base[: -len("/v1")] + "/metrics"
    tables = [
        f'[[expert]]\nname = "{name}"\nbase_url = "{base}"\nmodel = "edge"\nflavor = "vllm"\n'
        f'slots = 256\nmetrics_url = "{metrics}"\n'
        for name in ("expert-a", "expert-b")
    ]
    path.write_text("\n".join(tables))
    return path


def verifier_loaded(port: int) -> bool:
    """Whether the gateway on ``port`` scores with a fitted verifier (its router state says so);
    a file whose features this tree does not know is refused with a warning, not an error."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/router/state", timeout=10) as resp:
        state = orjson.loads(resp.read())
    return bool((state.get("verifier") or {}).get("loaded"))


def build(names: tuple[str, ...], upstream: Upstream, rundir: Path) -> list[Config]:
    keys = write_key_file(rundir / "keys.toml")
    experts = write_experts_file(rundir / "experts.toml", upstream)
    verifier = orjson.loads(VERIFIER_FILE.read_bytes())
    table = {
        KEYS_LOCAL: Config(KEYS_LOCAL, {"NETGPT_API_KEYS_FILE": str(keys), "NETGPT_REDIS_URL": None},
                           body=request_bytes(), headers=(AUTH,)),
        KEYS_REDIS: Config(KEYS_REDIS, {"NETGPT_API_KEYS_FILE": str(keys)}, body=request_bytes(), headers=(AUTH,)),
        VERIFIER: Config(VERIFIER, {"NETGPT_VERIFIER_FILE": str(VERIFIER_FILE),
                                    "NETGPT_EDGE_MODEL": verifier["edge_model"]}, body=request_bytes()),
        EXPERTS: Config(EXPERTS, {"NETGPT_EDGE_EXPERTS_FILE": str(experts)}, body=request_bytes()),
        RESPONSES: Config(RESPONSES, {}, path="/v1/responses", body=responses_body()),
        SHARED: Config(SHARED, {"NETGPT_API_KEYS_FILE": str(keys), "NETGPT_EDGE_EXPERTS_FILE": str(experts)},
                       body=request_bytes(), headers=(AUTH,)),
    }
    return [table[name] for name in names]
