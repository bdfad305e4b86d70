"""``netgpt bench routing``: the routing benchmark on real data."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.common.costs import LIST_PRICES

DEFAULT_OUT = Path("out/bench-routing")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "routing",
        help="replay BFCL requests with recorded outcomes under real network traces",
        description=(
            "Replays BFCL v1 requests with the recorded per-request correctness of an edge-class "
            "and a cloud-class model under real network traces and price schedules, through the "
            "gateway's own routing code, and writes a markdown report with PNG frontiers. The "
            "edge confidence signal and edge latency are simulated; the report says which parts "
            "are recorded."
        ),
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help="folder holding bfcl/, outcomes/ and traces/ (default: ../shared/data next to the repo)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help=f"where report.md and PNGs go (default {DEFAULT_OUT})",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="4 traces per family and coarser sweeps (seconds); without it every trace is replayed",
    )
    parser.add_argument(
        "--edge-model",
        default="Salesforce_xLAM-1b-fc-r",
        help="edge-class model whose recorded outcomes are replayed (default %(default)s)",
    )
    parser.add_argument(
        "--cloud-model",
        default="gpt-4o-2024-08-06-FC",
        choices=sorted(LIST_PRICES),
        help="cloud-class model with recorded latency and a list price (default %(default)s)",
    )
    parser.add_argument(
        "--edge-outcomes",
        type=Path,
        default=None,
        metavar="FILE",
        help="real edge outcomes (outcomes.jsonl of `netgpt bench edge-signal`): the measured "
        "requests only, with the real edge's correctness, schema validity, score from its real "
        "log-probs and measured latency in place of --edge-model and the simulated signal "
        "(--auc is then unused)",
    )
    parser.add_argument(
        "--auc",
        type=float,
        default=0.8,
        help="AUC of the simulated edge confidence among schema-valid drafts, in [0.5, 1) (default 0.8)",
    )
    parser.add_argument(
        "--usd-per-second",
        type=float,
        default=0.001,
        help="dollars one second of latency is worth; sets λ_$ = λ_L / this (default 0.001)",
    )
    parser.add_argument(
        "--seed", type=int, default=7, help="seed of the split and the simulated signal"
    )
    parser.add_argument(
        "--traces-per-family",
        type=int,
        default=None,
        help="override how many traces per family are replayed",
    )
    parser.add_argument(
        "--no-plots", action="store_true", help="write the report without PNGs (no matplotlib)"
    )
    parser.add_argument(
        "--verifier",
        action="store_true",
        help="instead: the learned verifier on the recorded answers of the five edge-class "
        "models (and the real SmolLM2's drafts, --edge-outcomes, default "
        "docs/edge-signal/outcomes.jsonl) with --cloud-model: cross-validated AUC and routing "
        "frontiers, with and without relevance (results.json, report.md, PNGs in --out); "
        "--quick: 2 repeats instead of 10 (docs/bench-routing.md)",
    )
    parser.add_argument(
        "--measured-only",
        action="store_true",
        help="with --verifier: only the real edge's drafts (--edge-outcomes), not the five "
        "recorded models (e.g. to compare the verifier with and without the sc_ features of a "
        "`netgpt bench edge-signal --samples K` run)",
    )
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    if getattr(args, "verifier", False):
        from bench.routing.verifier_cli import main as verifier_main

        return verifier_main(args)
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from bench.common.bfcl import DataError, default_data_dir
    from bench.routing.run import Options, run

    console = Console(stderr=True)
    if not 0.5 <= args.auc < 1.0:
        console.print("[red]--auc must be in [0.5, 1)[/red]")
        return 2
    data = args.data if args.data is not None else default_data_dir()
    opts = Options(
        data=data,
        out=args.out,
        quick=args.quick,
        edge_model=args.edge_model,
        cloud_model=args.cloud_model,
        auc=args.auc,
        seed=args.seed,
        usd_per_second=args.usd_per_second,
        traces_per_family=args.traces_per_family,
        edge_outcomes=args.edge_outcomes,
    )
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
    )
    try:
        with Progress(*columns, console=console, transient=True) as progress:
            result = run(opts, progress)
    except DataError as exc:
        console.print(f"[red]{exc}[/red]")
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    plots = []
    if not args.no_plots:
        try:
            from bench.routing.plots import write_all
        except ImportError:
            console.print(
                "[red]matplotlib is missing: pip install -e '.[bench]', or pass --no-plots[/red]"
            )
            return 2
        with console.status("drawing plots"):
            plots = write_all(result, args.out)
    from bench.routing.report import write_report

    report = write_report(result, args.out, plots)
    print(
        f"report: {report} ({result.elapsed_s:.1f} s simulated, {len(plots)} plots)",
        file=sys.stdout,
    )
    return 0
