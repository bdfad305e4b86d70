"""``netgpt demo``: the first thing to run. The real gateway between replayed models and a
trace-driven network, under load, with a live view."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

DEFAULT_TRACE = "ucc_5g/Driving_B_2020.02.27_20.35.57.csv"


def _positive(kind: type) -> Any:
    def parse(text: str) -> Any:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value

    return parse


def _share(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def _auc(text: str) -> float:
    value = float(text)
    if not 0.5 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0.5, 1), got {text}")
    return value


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="live demo: the real gateway between replayed edge/cloud models on a real network trace",
        description=(
            "Runs the real gateway on loopback between two replay servers: an edge model and a "
            "cloud model that answer BFCL v1 tool-calling requests the way the recorded models "
            "did (right, or wrong with the recorded kind of error). The cloud sits behind a "
            "proxy whose delay and bandwidth follow a real network trace; the gateway's live "
            "probes measure it, so the threshold moves with the link. A load generator sends "
            "requests and checks each answer; a live view shows routes, score against "
            "threshold, RTT and bandwidth, spend, accuracy and latency. The models are "
            "replayed, not run, and the edge model's confidence is simulated — unless --edge "
            "real runs SmolLM2 here as the edge. Without the data directory the demo runs on a "
            "small synthetic set and says so."
        ),
        epilog="Ctrl-C stops the demo cleanly and prints a summary (exit status 130; 0 after "
        "--duration). The gateway's log goes to a file, kept with --run-dir.",
    )
    data = parser.add_argument_group("data")
    data.add_argument(
        "--data",
        type=Path,
        default=None,
        help="folder holding bfcl/, outcomes/, traces/ and workloads/ (default: "
        "../shared/data next to the repository; when that is missing the demo falls "
        "back to synthetic data)",
    )
    data.add_argument(
        "--synthetic",
        action="store_true",
        help="use the built-in synthetic requests and network even when data exists",
    )
    data.add_argument(
        "--edge-model",
        default="Salesforce_xLAM-1b-fc-r",
        help="edge-class model whose recorded outcomes the edge replay answers with "
        "(default %(default)s)",
    )
    data.add_argument(
        "--cloud-model",
        default="gpt-4o-2024-08-06-FC",
        help="cloud-class model with recorded latency and a list price (default %(default)s)",
    )
    data.add_argument(
        "--edge",
        choices=["replay", "real"],
        default="replay",
        help="replay: the edge answers as the recorded --edge-model did, with a simulated "
        "confidence; real: SmolLM2-135M runs on this machine under llama-server (built from "
        "source on first use, ~10 min) and the gateway drafts with it through the llama.cpp "
        "flavour and the tool-call pre-fill, so edge answers, latency and score are real; the "
        "cloud stays the replay (default %(default)s)",
    )
    data.add_argument(
        "--auc",
        type=_auc,
        default=0.8,
        help="how well the simulated edge confidence separates right from wrong "
        "answers, in [0.5, 1) (default %(default)s)",
    )
    net = parser.add_argument_group("network")
    net.add_argument(
        "--trace",
        default=DEFAULT_TRACE,
        help="network trace for the cloud link: a family (ucc_5g, fcc_broadband, "
        "mahimahi_cellular, norway_3g), FAMILY/FILE, or a path (default "
        "%(default)s, which has measured ping; other families model RTT from "
        "bandwidth)",
    )
    net.add_argument(
        "--speed",
        type=_positive(float),
        default=10.0,
        help="play the trace this many times faster than real time; it loops (default %(default)s)",
    )
    load = parser.add_argument_group("load")
    load.add_argument(
        "--rate",
        type=_positive(float),
        default=None,
        help="requests per second, on average (default 4; 1 with --edge real, which drafts "
        "on two CPU slots)",
    )
    load.add_argument(
        "--arrivals",
        choices=["poisson", "azure"],
        default="poisson",
        help="arrival process: Poisson, or the bursty gaps of the Azure LLM "
        "inference trace scaled to --rate (needs --data) (default %(default)s)",
    )
    load.add_argument(
        "--concurrency",
        type=_positive(int),
        default=None,
        help="most requests in flight; arrivals wait beyond it (default 32; 4 with --edge real)",
    )
    load.add_argument(
        "--seed",
        type=int,
        default=7,
        help="seed of the request order, arrivals and simulated confidence",
    )
    gw = parser.add_argument_group("gateway")
    gw.add_argument(
        "--port",
        type=int,
        default=0,
        help="gateway port on 127.0.0.1, to send your own requests while it runs "
        "(default: a free port, shown in the view)",
    )
    gw.add_argument(
        "--lambda-latency",
        type=float,
        default=0.25,
        help="value of a second of latency in quality units "
        "(NETGPT_ROUTING_LAMBDA_LATENCY; default %(default)s, above the gateway's 0.1 "
        "so that τ visibly follows the link)",
    )
    gw.add_argument(
        "--budget-share",
        type=_share,
        default=None,
        help="target cloud share ρ (NETGPT_BUDGET_TARGET_CLOUD_SHARE); the budget "
        "multiplier μ then shows in the view (default: no budget)",
    )
    out = parser.add_argument_group("output")
    out.add_argument(
        "--duration",
        type=_positive(float),
        default=None,
        help="stop after this many seconds (default: run until Ctrl-C)",
    )
    out.add_argument(
        "--no-live",
        action="store_true",
        help="print a plain status line every --interval seconds instead of the "
        "live view (for CI and logs)",
    )
    out.add_argument(
        "--interval",
        type=_positive(float),
        default=2.0,
        help="seconds between status lines with --no-live (default %(default)s)",
    )
    out.add_argument(
        "--run-dir",
        type=Path,
        default=None,
        help="keep the gateway log and dataset spool here (default: a temporary "
        "folder, removed at the end)",
    )
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from rich.console import Console

    from bench.demo.runner import Options, run_demo

    live = not args.no_live
    console = Console()
    if live and not console.is_terminal:
        live = False  # piped or captured: plain lines read better than a redrawn screen
    opts = Options(
        data=args.data,
        synthetic=args.synthetic,
        trace=args.trace,
        speed=args.speed,
        rate=args.rate if args.rate is not None else (1.0 if args.edge == "real" else 4.0),
        arrivals=args.arrivals,
        concurrency=args.concurrency
        if args.concurrency is not None
        else (4 if args.edge == "real" else 32),
        duration=args.duration,
        live=live,
        interval=args.interval,
        edge_model=args.edge_model,
        cloud_model=args.cloud_model,
        auc=args.auc,
        lambda_latency=args.lambda_latency,
        budget_share=args.budget_share,
        port=args.port,
        seed=args.seed,
        run_dir=args.run_dir,
        edge=args.edge,
    )
    try:
        return run_demo(opts, console)
    except OSError as exc:
        print(f"netgpt demo: {exc}; if a port is taken, pick another with --port", file=sys.stderr)
        return 2
