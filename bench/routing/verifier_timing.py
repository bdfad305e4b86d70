"""``python -m bench.routing.verifier_timing``: what the verifier costs per request, in pure Python.

Over the 1,240 BFCL v1 requests with a recorded edge model's real answers as the drafts
(``bench.common.replay``), the three steps on the request path:

- ``prepare(messages, tools)``: the request side, **cold** (every memo cleared before each pass:
  a tool list never seen) and **warm** (the tool list seen before: a client that sends the same
  tools request after request; the question is still analysed afresh);
- ``features(ctx, tool_calls, logprobs)``: the draft side and the full vector;
- ``model.score(x)``: the fitted model (request + draft features, fitted here on the
  ``calls_cover`` label against the recorded cloud) — one dot product and a logistic.

The box this runs on is shared, so each figure is the mean over requests of each request's
**fastest of N passes** (interruptions by other processes only ever add time), and beside it
the timeit rule on whole passes (the fastest pass's mean), which other processes inflate more.
The garbage collector is off while timing, as in ``timeit``. The load average is printed before
and after.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from gateway.routing.verifier import (
    DRAFT_FEATURES,
    REQUEST_FEATURES,
    LogprobSummary,
    VerifierModel,
    calls_cover,
    clear_caches,
    features,
    fit,
    prepare,
)

Inputs = Sequence[tuple[list[dict[str, Any]], list[dict[str, Any]], Any]]
LOGPROBS = LogprobSummary(-0.4, -3.0, 40)  # an edge that returns log-probs: the lp_ block filled


def _per_request(
    n: int, rounds: int, step: Callable[[int], None], before_round: Callable[[], None]
) -> tuple[list[float], float]:
    """(each item's fastest of ``rounds`` timings in µs, the fastest whole pass's µs per item)."""
    best = [math.inf] * n
    best_pass = math.inf
    clock = time.perf_counter_ns
    for _ in range(rounds):
        before_round()
        started = clock()
        for i in range(n):
            t0 = clock()
            step(i)
            elapsed = clock() - t0
            if elapsed < best[i]:
                best[i] = elapsed
        best_pass = min(best_pass, (clock() - started) / n)
    return [b / 1000 for b in best], best_pass / 1000


def _overhead(n: int, rounds: int) -> float:
    """µs the timing loop itself adds to one item (an empty step)."""
    times, _ = _per_request(n, rounds, lambda _: None, lambda: None)
    return statistics.fmean(times)


def measure(inputs: Inputs, model: VerifierModel, rounds: int = 15) -> dict[str, float]:
    """µs per request of each step (``<step>_us``: mean of per-request minima, timing-loop
    overhead removed; ``<step>_pass_us``: the fastest whole pass), and the median tool count."""
    n = len(inputs)
    base = _overhead(n, rounds)
    ctxs = [prepare(m, t) for m, t, _ in inputs]
    rows = [features(c, calls, LOGPROBS) for c, (_, _, calls) in zip(ctxs, inputs, strict=True)]

    def prep(i: int) -> None:
        prepare(inputs[i][0], inputs[i][1])

    def feat(i: int) -> None:
        features(ctxs[i], inputs[i][2], LOGPROBS)

    def score(i: int) -> None:
        model.score(rows[i])

    def total(i: int) -> None:
        messages, tools, calls = inputs[i]
        model.score(features(prepare(messages, tools), calls, LOGPROBS))

    def nothing() -> None:
        pass

    steps = {
        "prepare_cold": (prep, clear_caches),
        "prepare_warm": (prep, nothing),
        "features": (feat, nothing),
        "score": (score, nothing),
        "total_cold": (total, clear_caches),
        "total_warm": (total, nothing),
    }
    out: dict[str, float] = {}
    for name, (step, before) in steps.items():
        if before is nothing:
            for i in range(n):  # memos filled: the warm case
                step(i)
        gc.collect()
        gc.disable()  # as timeit does: a collection would land on the same request every pass
        try:
            times, best_pass = _per_request(n, rounds, step, before)
        finally:
            gc.enable()
        out[f"{name}_us"] = max(0.0, statistics.fmean(times) - base)
        out[f"{name}_median_us"] = max(0.0, statistics.median(times) - base)
        out[f"{name}_pass_us"] = best_pass
    out["median_tools"] = float(statistics.median(len(t) for _, t, _ in inputs))
    return out


def load_inputs(data: Path, edge_model: str, cloud_model: str) -> tuple[Inputs, list[bool]]:
    """(messages, tools, the edge's recorded tool_calls) per BFCL request, and whether the edge's
    calls cover the cloud's (the label the model is fitted on)."""
    from bench.common.items import load_items
    from bench.common.replay import load_replays
    from bench.routing.verifier_data import messages_of

    edge, cloud = load_replays(data, edge_model), load_replays(data, cloud_model)
    inputs, labels = [], []
    for item in load_items(data):
        if item.prompt_id in edge and item.prompt_id in cloud:
            calls = edge[item.prompt_id].answer.tool_calls
            inputs.append((messages_of(item), list(item.tools), calls))
            labels.append(calls_cover(calls, cloud[item.prompt_id].answer.tool_calls))
    return inputs, labels


def fitted_model(inputs: Inputs, labels: list[bool], edge_model: str) -> VerifierModel:
    """The full verifier without log-probs (what ``netgpt bench routing --verifier`` deploys for a
    recorded edge model): every request and draft feature is scored."""
    rows = [features(prepare(m, t), calls) for m, t, calls in inputs]
    return fit(rows, labels, edge_model=edge_model, features=REQUEST_FEATURES + DRAFT_FEATURES)


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} CPUs"


ROWS = (
    ("prepare, cold tools", "prepare_cold"),
    ("prepare, warm tools", "prepare_warm"),
    ("features", "features"),
    ("score", "score"),
    ("total, cold tools", "total_cold"),
    ("total, warm tools", "total_warm"),
)


def report(timing: dict[str, float]) -> list[str]:
    lines = [
        f"{'µs per request':22s} {'mean':>7s} {'median':>7s} {'best pass':>10s}",
    ]
    for label, key in ROWS:
        lines.append(
            f"{label:22s} {timing[f'{key}_us']:7.1f} {timing[f'{key}_median_us']:7.1f} "
            f"{timing[f'{key}_pass_us']:10.1f}"
        )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    from bench.common.bfcl import DataError, default_data_dir
    from bench.common.replay import ReplayDataError
    from bench.routing.verifier_data import CLOUD_MODEL, EDGE_MODELS

    parser = argparse.ArgumentParser(prog="python -m bench.routing.verifier_timing",
                                     description=__doc__.split("\n\n")[0])  # fmt: skip
    parser.add_argument("--data", type=Path, default=None, help="the shared data folder")
    parser.add_argument("--edge-model", default=EDGE_MODELS[0])
    parser.add_argument("--cloud-model", default=CLOUD_MODEL)
    parser.add_argument("--rounds", type=int, default=15, help="passes per step (default 15)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    data = args.data if args.data is not None else default_data_dir()
    try:
        inputs, labels = load_inputs(data, args.edge_model, args.cloud_model)
    except (DataError, ReplayDataError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    model = fitted_model(inputs, labels, args.edge_model)
    before = load_average()
    timing = measure(inputs, model, rounds=args.rounds)
    after = load_average()
    print(f"{len(inputs)} BFCL requests, drafts: {args.edge_model}'s recorded answers, "
          f"median {timing['median_tools']:.0f} tool(s); fastest of {args.rounds} passes per "
          "request, Python " + sys.version.split()[0])  # fmt: skip
    print("\n".join(report(timing)))
    print(f"before: {before}\nafter:  {after}")
    if args.json is not None:
        doc = {"edge_model": args.edge_model, "rounds": args.rounds, "load_before": before,
               "load_after": after, "timing_us": {k: round(v, 2) for k, v in timing.items()}}  # fmt: skip
        args.json.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
