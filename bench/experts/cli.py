"""``netgpt bench experts``: placement across several edge experts, simulated under load."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

DEFAULT_OUT = Path("out/bench-experts")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "experts",
        help="simulate placement policies over several edge experts (and the cloud) under load",
        description=(
            "Discrete-event simulation of several edge experts with interference (decode slows "
            "as more requests run), queues, Poisson arrivals and the real Azure LLM inference "
            "trace at several loads, the cloud as a candidate with a network cost. Every "
            "placement goes through the gateway's own code (gateway.routing.placement). Writes "
            "DIR/report.md, DIR/results.json (one row per policy, workload and load) and PNG "
            "plots. With --micro it times one placement instead."
        ),
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help="folder holding workloads/ (Azure traces) and outcomes/ (BFCL quality and cloud "
        "latency); default ../shared/data next to the repo; without it: Poisson arrivals, "
        "assumed sizes, qualities and cloud latency (the report says so)",
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="one seed, one load (0.8), 400 requests per run: a smoke run (under a minute here)",
    )
    parser.add_argument(
        "--seeds", type=int, default=3, help="seeds per setting (default 3; --quick: 1)"
    )
    parser.add_argument(
        "--requests", type=int, default=None, help="requests per run (default 3000; --quick 400)"
    )
    parser.add_argument(
        "--loads",
        default=None,
        help="comma-separated utilisations (offered load / capacity), default 0.5,0.8,0.95",
    )
    parser.add_argument(
        "--policies",
        default=None,
        help="comma-separated placement policies (default: all of gateway.routing.placement.POLICIES)",
    )
    parser.add_argument(
        "--learned-weights",
        type=Path,
        default=None,
        help="weights JSON for the learned policy (default: the shipped ones)",
    )
    parser.add_argument(
        "--quality",
        choices=["replay", "category"],
        default="replay",
        help="what an answer is worth: replay = the model's recorded output for the BFCL item "
        "the request stands for, judged by the BFCL checker (outcomes/results/; a model without "
        "recorded outputs falls back to its per-category accuracy); category = the recorded "
        "per-category accuracy for every model (default: replay)",
    )
    parser.add_argument(
        "--expert-model",
        action="append",
        default=[],
        metavar="EXPERT=MODEL",
        help="serve MODEL (a recorded model's name, e.g. Salesforce_xLAM-7b-fc-r) on the expert "
        "profile EXPERT instead of the profile's own model (repeatable)",
    )
    parser.add_argument(
        "--cloud-model",
        default="gpt-4o-2024-08-06-FC",
        help="the cloud's model: its recorded answers, latency and tokens (default "
        "gpt-4o-2024-08-06-FC)",
    )
    parser.add_argument(
        "--micro",
        action="store_true",
        help="micro-benchmark: microseconds per placement with 8 experts (impact, learned, ...)",
    )
    parser.add_argument("--no-plots", action="store_true", help="skip the PNGs (no matplotlib)")
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    if args.micro:
        from bench.experts.micro import main as micro_main

        return micro_main()
    from bench.common.bfcl import default_data_dir
    from bench.experts.report import write_report
    from bench.experts.run import SCENARIOS, Options, expert_profiles, run
    from gateway.routing.placement import POLICIES

    data = args.data if args.data is not None else default_data_dir()
    if args.data is not None and not data.is_dir():
        print(
            f"--data {data} is not a folder; pass the folder holding workloads/ and outcomes/",
            file=sys.stderr,
        )
        return 2
    policies = tuple(args.policies.split(",")) if args.policies else POLICIES
    unknown = [p for p in policies if p not in POLICIES]
    if unknown:
        print(
            f"unknown policy {', '.join(unknown)}; choose from {', '.join(POLICIES)}",
            file=sys.stderr,
        )
        return 2
    experts: dict[str, str] = {}
    for pair in args.expert_model:
        name, sep, model = pair.partition("=")
        if not sep or not name or not model:
            print(f"--expert-model {pair!r}: write EXPERT=MODEL", file=sys.stderr)
            return 2
        experts[name] = model
    loads = (0.8,) if args.quick else (0.5, 0.8, 0.95)
    if args.loads:
        loads = tuple(float(x) for x in args.loads.split(","))
    opts = Options(
        out=args.out,
        data=data if data.is_dir() else None,
        quick=args.quick,
        seeds=1 if args.quick and args.seeds == 3 else args.seeds,
        loads=loads,
        policies=policies,
        requests=args.requests or (400 if args.quick else 3000),
        learned_path=args.learned_weights,
        quality=args.quality,
        expert_models=experts,
        cloud_model=args.cloud_model,
    )
    try:
        expert_profiles(SCENARIOS[opts.scenario], experts)
    except ValueError as exc:  # an --expert-model naming no expert of the scenario
        print(str(exc), file=sys.stderr)
        return 2
    started = time.monotonic()
    rows = _run_with_progress(run, opts)
    args.out.mkdir(parents=True, exist_ok=True)
    elapsed = time.monotonic() - started
    (args.out / "results.json").write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    write_report(args.out, rows, opts, plots=not args.no_plots)
    print(
        f"wrote {args.out / 'report.md'} and {args.out / 'results.json'} "
        f"({len(rows)} rows, {elapsed:.0f} s)"
    )
    for note in opts.notes:
        print(f"note: {note}")
    return 0


def _run_with_progress(run, opts):  # type: ignore[no-untyped-def]
    from rich.progress import Progress

    from bench.experts.run import total_runs

    with Progress(transient=True) as bar:
        task = bar.add_task("simulating", total=total_runs(opts))

        def tick(label: str) -> None:
            bar.update(task, advance=1, description=label)

        return run(opts, tick)
