"""``netgpt loop``: the closed learning loop on the real edge model (see bench/loop/run.py)."""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import time
from pathlib import Path
from typing import Any

QUICK: dict[str, Any] = {
    "held_out": 8, "traffic": 12, "rounds": 1, "min_records": 4, "sft_steps": 3, "batch_size": 2,
    "rl_steps": 1, "gapg_steps": 1, "prompts_per_step": 2, "group_size": 2, "max_new_tokens": 64,
    "eval_limit": 2, "draft_max_tokens": 96, "max_length": 768, "shadow_rate": 0.5,
}
FULL: dict[str, Any] = {
    # what the benchmark in docs/learning-loop.md ran with (its round 1 SFT had 20 steps)
    "held_out": 60, "traffic": 80, "rounds": 2, "min_records": 20, "sft_steps": 10,
    "batch_size": 4, "rl_steps": 2, "gapg_steps": 3, "prompts_per_step": 2, "group_size": 4,
    "max_new_tokens": 96, "eval_limit": 2, "draft_max_tokens": 160, "max_length": 1024,
    "shadow_rate": 0.3,
}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "loop",
        help="the learning loop on the real edge: traffic -> Redis -> export -> train -> ship -> measure",
        description=(
            "Run the closed loop on the real edge model (SmolLM2 on llama.cpp) through the real "
            "gateway, with the cloud replayed from gpt-4o's recorded BFCL answers (no internet). "
            "Per round: traffic through `netgpt serve` with Redis logging, calibration and "
            "learned-verifier refit (read back and reported with its AUC), "
            "`netgpt dataset export`, held-out measurement, then SFT -> RL and GAPG on the CPU "
            "and the result shipped back as a GGUF adapter switched on without a restart. "
            "Writes DIR/rounds.json and DIR/report.md; rerunning with the same --out resumes. "
            "Needs the train and bench extras and the llama.cpp edge (`netgpt edge install`); "
            "without the train extra it stops before it starts. The production steps are "
            "`netgpt learn round`'s (edge_worker/learning)."
        ),
        epilog="Defaults: the full benchmark (2 rounds; the README gives the sizes and the time "
               "it took); --quick: the CI micro-loop (one round, a few dozen requests, a few "
               "steps). Both run llama-server, the gateway and training on this CPU: on a shared "
               "2-core box --threads 1 keeps llama-server from stalling on busy cores.",
    )
    p.add_argument("--out", type=Path, required=True, metavar="DIR",
                   help="where every artefact, state.json, rounds.json and report.md go")
    p.add_argument("--quick", action="store_true",
                   help="the micro-loop: " + ", ".join(f"{k}={v}" for k, v in QUICK.items()))
    p.add_argument("--rounds", type=int, default=None,
                   help="training rounds after the untrained round 0 (default: 2; quick: 1)")
    p.add_argument("--data", type=Path, default=None, metavar="DIR",
                   help="folder with bfcl/v1 and outcomes/ (default: ../shared/data)")
    p.add_argument("--held-out", type=int, default=None, metavar="N",
                   help="held-out requests measured each round (default: 60; quick: 8)")
    p.add_argument("--held-out-ratio", type=float, default=0.2, metavar="R",
                   help="share of BFCL ids (by hash) set aside as held-out (default: 0.2)")
    p.add_argument("--traffic", type=int, default=None, metavar="N",
                   help="traffic requests per round (default: 80; quick: 12)")
    p.add_argument("--shadow-rate", type=float, default=None, metavar="E",
                   help="share of edge answers also sent to the cloud during traffic (labels "
                        "for the calibration; default: 0.3; quick: 0.5)")
    p.add_argument("--concurrency", type=int, default=2,
                   help="traffic requests in flight (default: 2; measurement runs one at a time)")
    p.add_argument("--redis-url", default=None, metavar="URL",
                   help="a Redis to log to (default: a redis-server the loop starts in DIR/redis)")
    p.add_argument("--gguf", type=Path, default=None, metavar="FILE",
                   help="start from this GGUF instead of the packaged SmolLM2")
    p.add_argument("--prefill-rounds", choices=["untrained", "all", "none"], default="untrained",
                   help="rounds whose gateway pre-fills '<tool_call>' (NETGPT_EDGE_CALL_PREFILL): "
                        "untrained = round 0 only (a trained model opens calls and can ask for "
                        "help by itself; default), all, none")
    p.add_argument("--threads", type=int, default=None,
                   help="llama-server threads, and torch's in training (OMP_NUM_THREADS); "
                        "default: all cores")
    p.add_argument("--draft-max-tokens", type=int, default=None,
                   help="NETGPT_EDGE_DRAFT_MAX_TOKENS for the edge draft (default: 160; quick: 96)")
    p.add_argument("--min-records", type=int, default=None,
                   help="NETGPT_CALIBRATION_MIN_RECORDS and NETGPT_VERIFIER_MIN_RECORDS for "
                        "the refits (default: 20; quick: 4)")
    p.add_argument("--sft-steps", type=int, default=None, help="SFT optimiser steps (default: 10)")
    p.add_argument("--batch-size", type=int, default=None, help="SFT examples per step (default: 4)")
    p.add_argument("--lr", type=float, default=2e-4, help="SFT learning rate (default: 2e-4)")
    p.add_argument("--rl-steps", type=int, default=None, help="RL steps (default: 2)")
    p.add_argument("--gapg-steps", type=int, default=None, help="GAPG steps (default: 3)")
    p.add_argument("--prompts-per-step", type=int, default=None, help="RL/GAPG prompts per step (default: 2)")
    p.add_argument("--group-size", type=int, default=None, help="RL/GAPG answers per prompt (default: 4)")
    p.add_argument("--max-new-tokens", type=int, default=None,
                   help="longest sampled answer in training (default: 96)")
    p.add_argument("--max-length", type=int, default=None,
                   help="longest training example in tokens; longer ones are dropped (default: 1024)")
    p.add_argument("--eval-limit", type=int, default=None,
                   help="exported validation records each training step scores (default: 2)")
    p.add_argument("--offload-share", type=float, default=0.1,
                   help="share of SFT targets replaced by the offload marker, so GAPG can "
                        "sample it (default: 0.1)")
    p.add_argument("--rho", type=float, default=0.2, help="GAPG's target cloud share (default: 0.2)")
    p.add_argument("--ship", choices=["sft", "rl", "gapg"], default="gapg",
                   help="which trained variant is shipped to the edge (default: gapg)")
    p.add_argument("--require-calibration", action="store_true",
                   help="NETGPT_CALIBRATION_REQUIRED=true in the gateways: a round's new model "
                        "answers nothing at the edge until its calibration is fitted (without it, "
                        "the traffic before the refit is routed on raw scores)")
    p.add_argument("--skip-variant", action="append", choices=["rl", "gapg"], default=[],
                   metavar="rl|gapg",
                   help="do not train this policy-gradient variant in the rounds still to train "
                        "(repeatable; SFT always runs and the --ship variant cannot be skipped); "
                        "for a shorter run: the unshipped variant only serves the comparison")
    p.add_argument("--seed", type=int, default=0, help="seed for training and the replay")
    p.add_argument("--report-only", action="store_true",
                   help="write rounds.json and report.md from the rounds DIR has finished so far "
                        "(e.g. while a long run is still going), run nothing")
    p.set_defaults(func=run)


def options(args: argparse.Namespace) -> Any:
    from bench.common.bfcl import DataError, default_data_dir
    from bench.loop.run import LoopOptions

    if args.ship in args.skip_variant:
        raise DataError(f"--skip-variant {args.ship}: that is the variant --ship sends to the edge")
    preset = QUICK if args.quick else FULL
    picked = {k: (getattr(args, k) if getattr(args, k, None) is not None else v)
              for k, v in preset.items()}
    return LoopOptions(
        out=args.out, data=args.data or default_data_dir(), held_out_ratio=args.held_out_ratio,
        concurrency=args.concurrency, redis_url=args.redis_url, gguf=args.gguf,
        prefill_rounds=args.prefill_rounds, threads=args.threads, lr=args.lr,
        offload_share=args.offload_share, rho=args.rho, ship=args.ship, seed=args.seed,
        skip_variants=tuple(args.skip_variant), require_calibration=args.require_calibration,
        **picked,
    )


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.markup import escape

    from bench.common.bfcl import DataError
    from bench.loop.report import target_notes, write_report, write_rounds
    from bench.loop.run import Loop
    from edge_worker.learning.extras import MissingExtra, require_train_extra
    from edge_worker.learning.state import StepFailed

    console = Console(stderr=True)
    started = time.monotonic()
    if not args.report_only:  # before the first request: not after minutes of traffic
        try:
            require_train_extra("netgpt loop")
        except MissingExtra as exc:
            console.print(f"[red]error:[/] {escape(str(exc))}", soft_wrap=True)
            return 2
    try:
        opts = options(args)
        # SIGTERM unwinds like Ctrl-C, so every server the loop started is stopped on the way out
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        loop = Loop(opts, console)
        rounds = loop.rounds() if args.report_only else loop.run()
    except (DataError, StepFailed) as exc:
        console.print(f"[red]error:[/] {exc}")
        console.print("fix the cause and run the same command again: finished steps are kept")
        return 1
    wall = loop.state.data.setdefault("wall_s", {})
    if not args.report_only:
        wall[str(len(wall))] = round(time.monotonic() - started, 1)
        loop.state.record("report", {"artefacts": []})
    meta = {
        "command": "netgpt " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:] else "",
        "wall_s": sum(wall.values()),
        "loop_peak_rss_mib": loop.state.data.get("loop_peak_rss_mib"),
        "held_out": opts.held_out, "traffic": opts.traffic,
        "notes": target_notes(rounds),
    }
    write_rounds(opts.out, rounds)
    report = write_report(opts.out, rounds, meta)
    console.print(f"rounds.json and {report} written")
    return 0
