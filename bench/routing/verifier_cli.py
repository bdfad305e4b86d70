"""``netgpt bench routing --verifier``: run the verifier benchmark from the routing command's
options (``--data``, ``--out``, ``--cloud-model``, ``--seed``, ``--quick``, ``--no-plots``,
``--edge-outcomes`` for the real SmolLM2's outcomes)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def main(args: argparse.Namespace) -> int:
    from bench.common.bfcl import DataError, default_data_dir
    from bench.common.replay import ReplayDataError
    from bench.routing.cli import DEFAULT_OUT
    from bench.routing.verifier import DEFAULT_SMOL_OUTCOMES, Options, run, write_json
    from bench.routing.verifier_data import EDGE_MODELS
    from bench.routing.verifier_report import targets, write_report

    data = args.data if args.data is not None else default_data_dir()
    opts = Options(
        data=data,
        # the routing benchmark's report.md stays where it is
        out=Path("out/bench-routing-verifier") if args.out == DEFAULT_OUT else args.out,
        cloud_model=args.cloud_model,
        smol_outcomes=args.edge_outcomes or DEFAULT_SMOL_OUTCOMES,
        repeats=2 if args.quick else 10,
        n_boot=200 if args.quick else 1000,
        seed=args.seed,
        edge_models=() if getattr(args, "measured_only", False) else EDGE_MODELS,
    )
    start = time.perf_counter()

    def progress(message: str) -> None:
        print(f"[{time.perf_counter() - start:6.1f} s] {message}", file=sys.stderr, flush=True)

    try:
        result = run(opts, progress)
    except (DataError, ReplayDataError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    plots = []
    if not args.no_plots:
        try:
            from bench.routing.verifier_plots import write_all
        except ImportError:
            print("matplotlib is missing: pip install -e '.[bench]', or pass --no-plots",
                  file=sys.stderr)  # fmt: skip
            return 2
        plots = write_all(result, opts.out)
    results = write_json(result, opts)
    report = write_report(result, opts.out, plots)
    timing = result.timing
    print(
        f"verifier evaluation: {timing.get('score_us', float('nan')):.1f} µs per request "
        f"(pure Python); features: {timing.get('features_cold_us', float('nan')):.0f} µs cold, "
        f"{timing.get('features_warm_us', float('nan')):.0f} µs with the tools seen before"
    )
    print("\n".join(targets(result)))
    print(f"results: {results}\nreport: {report} ({result.elapsed_s:.0f} s, {len(plots)} plots)")
    return 0
