"""``netgpt bench edge-signal``: measure the real edge's correctness and log-prob signal."""

from __future__ import annotations

import argparse
import asyncio
import json
import shlex
import signal
import sys
import time
from pathlib import Path
from typing import Any

DEFAULT_OUT = Path("out/edge-signal")
OUTCOMES = "outcomes.jsonl"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "edge-signal",
        help="run the real edge (llama-server + SmolLM2) over BFCL v1 and measure its signal",
        description=(
            "Starts the real llama-server with SmolLM2 on loopback, sends BFCL v1 AST requests "
            "through the gateway's own edge client (llama.cpp flavour, tool-call pre-fill) and "
            "schema guard, and records per request: AST-correct (BFCL's rule), schema validity, "
            "calls, log-prob features, latency, tokens (DIR/outcomes.jsonl, resumable: a rerun "
            "with the same --out skips recorded requests). Then writes DIR/report.md with the "
            "accuracy per category and the AUC of the score and each feature (95% bootstrap "
            "CI), and ROC plots. Replay the outcomes in the routing benchmark with "
            "`netgpt bench routing --edge-outcomes DIR/outcomes.jsonl`."
        ),
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help="folder holding bfcl/v1 (default: ../shared/data next to the repo)",
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})"
    )
    parser.add_argument(
        "--sample",
        type=int,
        default=None,
        help="measure N requests, stratified by category in proportion to its size "
        "(default: all 1,240; ~1.5-2 s each on two cores)",
    )
    parser.add_argument("--seed", type=int, default=7, help="seed of the sample, split, bootstrap")
    parser.add_argument(
        "--parallel", type=int, default=2, help="llama-server slots and requests in flight (2)"
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="llama-server threads (default: all cores)"
    )
    parser.add_argument(
        "--model", default="smollm2", help="edge model name of edge_worker.llamacpp (smollm2)"
    )
    parser.add_argument(
        "--base-url",
        default=None,
        help="use an already running llama-server at this /v1 URL instead of starting one",
    )
    parser.add_argument(
        "--prefill",
        default="<tool_call>\\n",
        help="assistant pre-fill that opens the call (NETGPT_EDGE_CALL_PREFILL; '\\n' allowed)",
    )
    parser.add_argument(
        "--max-tokens", type=int, default=256, help="draft cap (NETGPT_EDGE_DRAFT_MAX_TOKENS)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        help="seconds per edge call before it counts as failed",
    )
    parser.add_argument(
        "--shard",
        default=None,
        metavar="K/N",
        help="measure only every N-th request of the sample, from the K-th (0-based): run N "
        "commands with the same --out, each with its own llama-server, to use N cores",
    )
    parser.add_argument(
        "--samples",
        type=int,
        default=0,
        metavar="K",
        help="self-consistency: after each greedy draft, send it again beside K sampled drafts "
        "(one request, n=K) as the gateway does with NETGPT_EDGE_SAMPLES=K, and record their "
        "agreement and the extra wall time (llama-server gets --parallel x (K+1) slots)",
    )
    parser.add_argument(
        "--temperature", type=float, default=0.7,
        help="temperature of the sampled drafts (NETGPT_EDGE_SAMPLE_TEMPERATURE; 0.7)",
    )
    parser.add_argument(
        "--analyze-only",
        action="store_true",
        help="do not run the edge: analyse DIR/outcomes.jsonl as it is",
    )
    parser.add_argument("--boot", type=int, default=2000, help="bootstrap draws (2000)")
    parser.add_argument("--no-plots", action="store_true", help="no PNGs (no matplotlib)")
    parser.set_defaults(func=main)


def _meta_path(out: Path) -> Path:
    return out / "meta.json"


def _read_meta(out: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(_meta_path(out).read_text())
        return data
    except (OSError, ValueError):
        return {}


def _slots(args: argparse.Namespace) -> int:
    """llama-server slots: one per request in flight, K more for its samples (n=K needs K)."""
    return int(args.parallel * (1 + max(args.samples, 0)))


def _sample_text(n_items: int, sample: int | None, seed: int) -> str:
    if sample is None or sample >= n_items:
        return f"all {n_items} requests"
    return f"a sample of {sample} of {n_items}, stratified by category in proportion, seed {seed}"


def _measure(args: argparse.Namespace, console: Any) -> int:
    from rich.progress import (
        BarColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from bench.common.bfcl import DataError, default_data_dir
    from bench.common.items import load_items, stratified_sample
    from bench.edge_signal.measure import EdgeConfig, done_ids, measure

    data = args.data if args.data is not None else default_data_dir()
    try:
        items = load_items(data)
    except DataError as exc:
        console.print(f"[red]{exc}[/red]")
        return 2
    picked = stratified_sample(items, args.sample, args.seed)
    outcomes = args.out / OUTCOMES
    done = done_ids(outcomes)
    todo = [i for i in picked if i.prompt_id not in done]
    if args.shard:
        k, n = (int(x) for x in args.shard.split("/"))
        mine = {i.prompt_id for j, i in enumerate(picked) if j % n == k}
        todo = [i for i in todo if i.prompt_id in mine]
    meta = _read_meta(args.out)
    meta.update(
        command="netgpt " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
        data=str(data),
        sample_text=_sample_text(len(items), args.sample, args.seed),
        ids=[i.prompt_id for i in picked],
        parallel=args.parallel,
        concurrency=args.parallel,
        prefill=args.prefill.replace("\\n", "\n"),
        max_tokens=args.max_tokens,
        model=f"{args.model} (edge_worker.llamacpp)",
        samples=args.samples,
        temperature=args.temperature if args.samples else None,
        slots=_slots(args),
        threads=args.threads,
    )
    console.print(
        f"{len(picked)} requests ({meta['sample_text']}); "
        f"{sum(i.prompt_id in done for i in picked)} already in {outcomes}, "
        f"{len(todo)} to run" + (f" (shard {args.shard})" if args.shard else "")
    )
    meta.setdefault("first_started_utc", time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()))
    _meta_path(args.out).write_text(json.dumps(meta, indent=2))
    if not todo:
        return 0
    started = time.time()

    async def run(base_url: str) -> int:
        config = EdgeConfig(
            base_url=base_url,
            model=args.model,
            call_prefill=args.prefill.replace("\\n", "\n"),
            draft_max_tokens=args.max_tokens,
            timeout_s=args.timeout,
            samples=args.samples,
            temperature=args.temperature,
            seed=args.seed,
        )
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=console) as progress:
            task = progress.add_task("edge drafts", total=len(todo))
            right = 0

            def on_row(row: dict[str, Any]) -> None:
                nonlocal right
                right += bool(row.get("correct"))
                progress.update(task, advance=1, description=f"edge drafts ({right} right)")

            return await measure(todo, config, outcomes, args.parallel, on_row)

    if args.base_url:
        meta["server"] = f"an external llama-server at {args.base_url}"
        count = asyncio.run(run(args.base_url))
    else:
        from edge_worker.llamacpp.server import LlamaServer

        with console.status("starting llama-server (builds it on first use, ~10 min)"):
            server = LlamaServer(model=args.model, parallel=_slots(args), threads=args.threads)
            server.start()
        try:
            meta["server"] = f"llama-server started by the command, {_slots(args)} slots"
            count = asyncio.run(run(server.base_url))
        finally:
            server.stop()
    elapsed = time.time() - started
    meta = {**_read_meta(args.out), **meta}  # another shard may have written meanwhile
    meta["wall_s"] = float(meta.get("wall_s", 0.0)) + elapsed
    meta["last_finished_utc"] = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    meta["measured"] = len(done_ids(outcomes))
    _meta_path(args.out).write_text(json.dumps(meta, indent=2))
    console.print(f"measured {count} requests in {elapsed:.0f} s")
    return 0


def main(args: argparse.Namespace) -> int:
    from rich.console import Console

    from bench.edge_signal.analysis import OutcomesError, analyse, load_rows
    from bench.edge_signal.report import write_report

    console = Console(stderr=True)
    args.out.mkdir(parents=True, exist_ok=True)
    # SIGTERM (kill, timeout) unwinds like Ctrl-C, so the llama-server this command started stops
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if not args.analyze_only:
        code = _measure(args, console)
        if code:
            return code
    try:
        rows = load_rows(args.out / OUTCOMES)
    except OutcomesError as exc:
        console.print(f"[red]{exc}[/red]")
        return 2
    meta = _read_meta(args.out)
    sample = set(meta.get("ids") or ())
    if sample:  # the last measured sample (a file may hold more, from a larger earlier sample)
        rows = [r for r in rows if r["id"] in sample]
    with console.status("bootstrap AUCs"):
        result = analyse(rows, seed=args.seed, n_boot=args.boot)
    plots = []
    if not args.no_plots:
        try:
            from bench.edge_signal.plots import write_all
        except ImportError:
            console.print(
                "[red]matplotlib is missing: pip install -e '.[bench]', or --no-plots[/red]"
            )
            return 2
        plots = write_all(result, args.out)
    meta["outcomes"] = str(args.out / OUTCOMES)
    first = meta.get("first_started_utc")
    if first:
        import calendar

        began = calendar.timegm(time.strptime(first, "%Y-%m-%d %H:%M:%S"))
        last = (args.out / OUTCOMES).stat().st_mtime
        meta["wall_text"] = (
            f"{(last - began) / 60:.1f} min from the first start ({first} UTC) to the last "
            f"record ({time.strftime('%H:%M:%S', time.gmtime(last))} UTC) for {len(rows)} "
            f"requests (`{meta.get('command', 'netgpt bench edge-signal')}`)"
        )
    report = write_report(result, args.out, plots, meta)
    print(f"report: {report} ({len(rows)} requests, {len(plots)} plots)")
    return 0
