"""Runs the real edge over BFCL requests and records one JSON line per request (resumable).

Each request goes the way the gateway sends a draft: the client body through
``edge_worker.client.EdgeClient`` (flavour ``llamacpp``, the call pre-fill, the draft cap), the
draft's tool calls through the schema guard (``gateway.routing.schema_guard``) with the client's
own ``tool_choice``/``parallel_tool_calls`` (none: "auto"), the log-probs through
``gateway.routing.score`` (raw, uncalibrated: calibration is fitted later on a separate split),
and the answer through BFCL's AST rule (``bench.common.ast_check``).
"""

from __future__ import annotations

import asyncio
import json
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common.ast_check import check as ast_check
from bench.common.items import Item
from bench.edge_signal.features import logprob_features
from bench.edge_signal.samples import NO_PROMPT_CACHE, sample_row
from edge_worker.client import EdgeClient
from gateway.config import EdgeSettings
from gateway.errors import UpstreamError
from gateway.routing.schema_guard import ValidatorCache, check_tool_calls, tool_schemas
from gateway.routing.score import DraftFeatures, logprob_summary, raw_score

RECORD_VERSION = 1
DEFAULT_PREFILL = "<tool_call>\n"


@dataclass(frozen=True)
class EdgeConfig:
    base_url: str
    model: str = "smollm2"
    call_prefill: str = DEFAULT_PREFILL
    draft_max_tokens: int = 256
    timeout_s: float = 120.0
    samples: int = 0  # K sampled drafts per request beside the greedy one (bench.edge_signal.samples)
    temperature: float = 0.7
    seed: int = 7

    def settings(self) -> EdgeSettings:
        return EdgeSettings(
            base_url=self.base_url,
            model=self.model,
            flavor="llamacpp",
            call_prefill=self.call_prefill,
            draft_max_tokens=self.draft_max_tokens,
            timeout_s=self.timeout_s,
        )


def done_ids(path: Path) -> set[str]:
    """Ids already recorded in ``path`` (a partial last line, from a killed run, is ignored)."""
    if not path.exists():
        return set()
    ids = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            ids.add(json.loads(line)["id"])
        except (ValueError, KeyError, TypeError):
            continue
    return ids


def _usage(response: dict[str, Any]) -> tuple[int | None, int | None]:
    usage = response.get("usage") or {}
    return usage.get("prompt_tokens"), usage.get("completion_tokens")


async def measure_one(
    client: EdgeClient, item: Item, cache: ValidatorCache, config: EdgeConfig | None = None
) -> dict[str, Any]:
    """One request through the edge client, the guard, the score and the AST rule; with
    ``config.samples`` also its self-consistency fields (``bench.edge_signal.samples``)."""
    body = item.body()
    if config is not None and config.samples > 0:
        body.update(NO_PROMPT_CACHE)
    row: dict[str, Any] = {
        "v": RECORD_VERSION,
        "id": item.prompt_id,
        "category": item.category,
        "n_tools": len(item.tools),
    }
    started = time.perf_counter()
    try:
        draft = await client.draft(body)
    except UpstreamError as exc:
        row.update(
            edge_error=f"{type(exc).__name__}: {str(exc)[:300]}",
            latency_s=time.perf_counter() - started,
            correct=False,
            ast_error="edge_error",
            schema_valid=False,
            schema_error="edge_error",
            n_calls=0,
            raw_score=0.0,
        )
        return row
    message = draft.message
    calls = message.get("tool_calls") or []
    guard = check_tool_calls(
        calls,
        tool_schemas(item.tools),
        cache,
        tool_choice=body.get("tool_choice"),
        parallel_tool_calls=body.get("parallel_tool_calls"),
    )
    verdict = ast_check(item.category, item.tools, item.ground_truth, calls)
    mean_lp, min_lp = logprob_summary(draft.token_logprobs)
    features = DraftFeatures(
        schema_valid=guard.valid,
        n_tool_calls=len(calls),
        mean_logprob=mean_lp,
        min_logprob=min_lp,
        n_tokens=len(draft.token_logprobs),
        n_tools=len(item.tools),
        n_turns=len(body["messages"]),
    )
    prompt_tokens, completion_tokens = _usage(draft.response)
    choice = (draft.response.get("choices") or [{}])[0]
    row.update(
        correct=verdict.correct,
        ast_error=verdict.error_type,
        schema_valid=guard.valid,
        schema_error=guard.error or "",
        n_calls=len(calls),
        calls=[
            {
                "name": (c.get("function") or {}).get("name"),
                "arguments": (c.get("function") or {}).get("arguments"),
            }
            for c in calls
        ],
        content=(message.get("content") or "")[:200] or None,
        finish_reason=choice.get("finish_reason"),
        n_tokens=len(draft.token_logprobs),
        raw_score=raw_score(features),
        latency_s=draft.latency_s,
        ttfb_s=draft.ttfb_s,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        **logprob_features(draft.response),
    )
    if config is not None and config.samples > 0:
        seed = (zlib.crc32(item.prompt_id.encode()) + config.seed) % 2**31
        row.update(await sample_row(client, body, message.get("tool_calls"), config.samples,
                                    config.temperature, seed))
    return row


async def measure(
    items: Iterable[Item],
    config: EdgeConfig,
    out: Path,
    concurrency: int = 2,
    on_row: Callable[[dict[str, Any]], None] | None = None,
) -> int:
    """Measures every item not yet in ``out`` (appending, one flushed line per request);
    returns how many it measured."""
    todo = [i for i in items if i.prompt_id not in done_ids(out)]
    out.parent.mkdir(parents=True, exist_ok=True)
    client = EdgeClient(config.settings())
    cache = ValidatorCache()
    queue: asyncio.Queue[Item] = asyncio.Queue()
    for item in todo:
        queue.put_nowait(item)
    count = 0
    with out.open("a", encoding="utf-8") as fh:

        async def worker() -> None:
            nonlocal count
            while True:
                try:
                    item = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                row = await measure_one(client, item, cache, config)
                fh.write(json.dumps(row, separators=(",", ":")) + "\n")
                fh.flush()
                count += 1
                if on_row is not None:
                    on_row(row)

        try:
            await asyncio.gather(*(worker() for _ in range(max(1, concurrency))))
        finally:
            await client.aclose()
    return count
