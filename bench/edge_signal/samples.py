"""Self-consistency in the edge-signal benchmark (``--samples K --temperature T``, issue 18).

After a request's greedy draft has been measured alone (the row's usual fields), the request is
sent again the way the gateway sends it with ``NETGPT_EDGE_SAMPLES=K``: the greedy draft and one
request for K sampled drafts (``EdgeClient.sample``: same prefill, cap and stops, temperature T,
``n`` = K, a seed per request) at the same time. The row gets

- ``samples``: ``gateway.routing.verifier.summarise`` of the K sampled drafts' calls against the
  greedy draft's (the ``sc_`` verifier features; None when the samples failed),
- ``sample_calls``: each sampled draft's calls (name, arguments), for re-analysis,
- ``sc_wall_s``: wall time of greedy draft + samples together (what a request waits with the
  option on), beside the row's ``latency_s`` (the greedy draft alone),
- ``sc_draft_s`` / ``sc_samples_s``: each call's own latency in that pair, ``sc_same_draft``:
  the paired greedy draft made the same calls as the one measured alone.

Every call of such a run asks llama-server not to reuse a cached prompt (``cache_prompt``
false), so the paired calls never pay less for a prompt the lone draft already processed.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from edge_worker.client import EdgeClient
from gateway.errors import UpstreamError
from gateway.ports import EdgeDraft
from gateway.routing.verifier import answer_key, summarise

NO_PROMPT_CACHE = {"cache_prompt": False}


def _brief(calls: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    return [
        {"name": (c.get("function") or {}).get("name"), "arguments": (c.get("function") or {}).get("arguments")}
        for c in calls or ()
        if isinstance(c, dict)
    ]


async def _timed(call: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    try:
        result = await call
    except UpstreamError as exc:
        result = exc
    return result, time.perf_counter() - started


async def sample_row(
    client: EdgeClient,
    body: dict[str, Any],
    draft_calls: list[dict[str, Any]] | None,
    k: int,
    temperature: float,
    seed: int,
) -> dict[str, Any]:
    """The self-consistency fields of one request's row (see the module's docstring)."""
    started = time.perf_counter()
    (draft, draft_s), (sampled, samples_s) = await asyncio.gather(
        _timed(client.draft(body)), _timed(client.sample(body, k, temperature, seed))
    )
    row: dict[str, Any] = {
        "sc_k": k,
        "sc_temperature": temperature,
        "sc_wall_s": time.perf_counter() - started,
        "sc_draft_s": draft_s,
        "sc_samples_s": samples_s,
        "samples": None,
    }
    if isinstance(draft, EdgeDraft):
        paired = draft.message.get("tool_calls")
        row["sc_same_draft"] = answer_key(paired) == answer_key(draft_calls)
    if not isinstance(sampled, EdgeDraft):
        row["sample_error"] = f"{type(sampled).__name__}: {str(sampled)[:300]}"
        return row
    calls = sampled.choice_tool_calls
    summary = summarise(draft_calls, calls)
    row["samples"] = summary.to_dict() if summary is not None else None
    row["sample_calls"] = [_brief(c) for c in calls]
    usage = sampled.response.get("usage") or {}
    row["sc_completion_tokens"] = usage.get("completion_tokens")
    return row
