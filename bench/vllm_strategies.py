"""Two ways to get a tool call out of SmolLM2 on a real vLLM, measured on a BFCL sample.

    python -m bench.vllm_strategies --data ../shared/data --n 30 --out var/vllm-strategies

Starts the real vLLM server (``VllmServer``: installed and converted first when needed), then
asks it for each sampled BFCL request's draft exactly as the gateway's edge client would
(:func:`edge_worker.flavors.shape_request` with the ``vllm`` flavour), once per strategy:

* ``prefill``: the assistant turn pre-filled with ``<tool_call>\\n`` and continued
  (``continue_final_message``), ``tool_choice`` "required", stop at ``</tool_call>``; a call left
  in ``content`` is recovered (:func:`edge_worker.flavors.recover_prefilled_call`);
* ``prefill-auto``: the same prefill with ``tool_choice`` left "auto" (vLLM guides nothing; the
  call, if any, is parsed out of ``content``) — how the prefill works on an edge without guided
  decoding;
* ``guided``: no prefill; "required" and every function marked ``strict`` so vLLM's guided
  decoding forces arguments that follow the schema.

Per strategy it prints and writes: the share of drafts with a call, the share the gateway's
schema guard accepts, BFCL's AST accuracy, latency (mean, p50, p95) and output tokens.
Only the categories one call can answer are sampled (simple, multiple_function): every strategy
makes one call (``parallel_tool_calls`` false).
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

from bench.common.ast_check import check
from bench.common.items import Item, load_items, stratified_sample
from edge_worker.flavors import recover_prefilled_call, shape_request
from gateway.routing.schema_guard import ValidatorCache, check_tool_calls, tool_schemas

PREFILL = "<tool_call>\n"
STRATEGIES = ("prefill", "prefill-auto", "guided")
CATEGORIES = ("simple", "multiple_function")


def shaped(item: Item, strategy: str, model: str, max_tokens: int) -> dict[str, Any]:
    body = item.body()
    out = shape_request(body, flavor="vllm", model=model, top_logprobs=1,
                        draft_max_tokens=max_tokens,
                        call_prefill="" if strategy == "guided" else PREFILL,
                        call_strategy="guided" if strategy == "guided" else "prefill")
    if strategy == "prefill-auto":
        out["tool_choice"] = "auto"
    return out


def one(http: httpx.Client, base: str, item: Item, strategy: str, model: str,
        max_tokens: int) -> dict[str, Any]:
    body = shaped(item, strategy, model, max_tokens)
    started = time.perf_counter()
    resp = http.post(base + "/chat/completions", json=body)
    latency = time.perf_counter() - started
    row: dict[str, Any] = {"id": item.prompt_id, "category": item.category,
                           "strategy": strategy, "latency_s": round(latency, 3),
                           "status": resp.status_code}
    if resp.status_code != 200:
        row.update(call=False, schema_valid=False, ast=False, error=resp.text[:200])
        return row
    answer = recover_prefilled_call(resp.json(), "" if strategy == "guided" else PREFILL)
    message = answer["choices"][0]["message"]
    calls = message.get("tool_calls") or []
    guard = check_tool_calls(calls, tool_schemas(item.tools), ValidatorCache(),
                             tool_choice=None, parallel_tool_calls=None)
    verdict = check(item.category, item.tools, item.ground_truth, calls)
    row.update(call=bool(calls), schema_valid=bool(calls) and guard.valid, ast=verdict.correct,
               ast_error=verdict.error_type, guard=guard.error or "",
               completion_tokens=(answer.get("usage") or {}).get("completion_tokens"),
               calls=[c.get("function") for c in calls])
    return row


def summarise(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for strategy in STRATEGIES:
        mine = [r for r in rows if r["strategy"] == strategy]
        if not mine:
            continue
        lat = sorted(r["latency_s"] for r in mine)
        toks = [r.get("completion_tokens") or 0 for r in mine]
        out[strategy] = {
            "n": len(mine),
            "call_rate": round(sum(r["call"] for r in mine) / len(mine), 3),
            "schema_valid_rate": round(sum(r["schema_valid"] for r in mine) / len(mine), 3),
            "ast_accuracy": round(sum(r["ast"] for r in mine) / len(mine), 3),
            "latency_mean_s": round(statistics.fmean(lat), 2),
            "latency_p50_s": round(lat[len(lat) // 2], 2),
            "latency_p95_s": round(lat[min(len(lat) - 1, int(0.95 * len(lat)))], 2),
            "completion_tokens_mean": round(statistics.fmean(toks), 1),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"),
                        help="folder holding bfcl/ (default: %(default)s)")
    parser.add_argument("--n", type=int, default=30, help="requests sampled (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=7, help="sample seed (default: %(default)s)")
    parser.add_argument("--max-tokens", type=int, default=256,
                        help="the draft's token cap (default: %(default)s, the gateway's NETGPT_EDGE_DRAFT_MAX_TOKENS)")
    parser.add_argument("--base-url", default=None,
                        help="a running vLLM's /v1 URL serving smollm2 (default: start one)")
    parser.add_argument("--out", type=Path, default=Path("var/vllm-strategies"),
                        help="folder for rows.jsonl and summary.json (default: %(default)s)")
    args = parser.parse_args(argv)
    items = [i for i in load_items(args.data) if i.category in CATEGORIES]
    sample = stratified_sample(items, args.n, args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.base_url:
        return _run(args, sample, args.base_url.rstrip("/"))
    from edge_worker.vllm.server import VllmServer

    with VllmServer("smollm2") as server:
        print(f"vLLM ready on {server.base_url} (pid {server.pid})", file=sys.stderr)  # noqa: T201
        return _run(args, sample, server.base_url)


def _run(args: argparse.Namespace, sample: list[Item], base: str) -> int:
    rows: list[dict[str, Any]] = []
    with httpx.Client(timeout=300) as http, open(args.out / "rows.jsonl", "w") as fh:
        for i, item in enumerate(sample):
            for strategy in STRATEGIES:  # interleaved: the box's load hits each strategy alike
                row = one(http, base, item, strategy, "smollm2", args.max_tokens)
                rows.append(row)
                fh.write(json.dumps(row) + "\n")
                fh.flush()
            print(f"{i + 1}/{len(sample)} done", file=sys.stderr, flush=True)  # noqa: T201
    summary = summarise(rows)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))  # noqa: T201 - the result
    return 0


if __name__ == "__main__":
    sys.exit(main())
