"""``netgpt bench load``: the side-by-side load benchmark (gateway, LiteLLM, direct upstream)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.load.run import Options

DEFAULT_OUT = Path("out/bench-load")


def _rates(text: str) -> list[float]:
    try:
        rates = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError("rates must be numbers separated by commas, e.g. 50,1000") from None
    if not rates or any(r <= 0 for r in rates):
        raise argparse.ArgumentTypeError("give at least one positive rate, e.g. 50,1000")
    return rates


def _configs(text: str) -> tuple[str, ...]:
    from bench.load.configs import ALL

    names = tuple(part.strip() for part in text.split(",") if part.strip() and part.strip() != "none")
    unknown = [n for n in names if n not in ALL]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown configuration(s) {', '.join(unknown)}; known: {', '.join(ALL)}")
    return names


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "load",
        help="load benchmark: gateway vs LiteLLM vs the upstream directly, on this machine",
        description=(
            "Starts a canned upstream (nginx), the gateway (edge path and fallback path), the "
            "LiteLLM proxy (one worker) and measures them side by side in interleaved rounds: "
            "RPS at saturation (wrk) and p50/p99 at fixed rates (openloop, an open-loop C "
            "generator built on first use). The server under test is pinned to CPU 0, "
            "everything else to CPU 1; servers not being measured are paused. Prints a table "
            "and writes OUT/result.json and OUT/table.txt. Needs wrk, nginx, redis-server and "
            "a C compiler (apt-get install -y wrk nginx-light redis-server gcc)."
        ),
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="result folder (default %(default)s)")
    parser.add_argument(
        "--quick", action="store_true",
        help="2 rounds of 4 s per target and phase (about 2-3 minutes in all) instead of 3 rounds of 10 s",
    )
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds per phase (default 3, quick 2)")
    parser.add_argument("--seconds", type=float, default=None, help="seconds per target and round (default 10, quick 4)")
    parser.add_argument("--connections", type=int, default=16, help="connections of the load generators (default %(default)s)")
    parser.add_argument(
        "--rates", type=_rates, default=[50.0, 1000.0],
        help="fixed request rates, comma-separated (default 50,1000); LiteLLM joins a rate at most 0.8x its saturated RPS",
    )
    parser.add_argument(
        "--latency-rate", type=float, default=1000.0,
        help="the rate whose overheads are checked against the targets (default %(default)g; must be in --rates)",
    )
    parser.add_argument("--upstream", choices=["nginx", "fake"], default="nginx",
                        help="canned upstream: nginx serving fixed answers, or the Python fake (slower) (default %(default)s)")
    parser.add_argument("--skip-litellm", action="store_true", help="leave LiteLLM out")
    parser.add_argument("--no-install", action="store_true", help="fail instead of installing LiteLLM into --tools-dir")
    parser.add_argument(
        "--tools-dir", type=Path, default=Options().tools_dir,
        help="LiteLLM's virtual environment and the compiled generator live here (default %(default)s)",
    )
    parser.add_argument(
        "--configs", type=_configs, default=None, metavar="LIST",
        help="operator configurations measured beside the edge path, comma-separated, or none "
        "(default: all of keys-local, keys-redis, verifier, experts, responses; bench/load/configs.py)",
    )
    parser.add_argument("--no-workers", action="store_true",
                        help="skip the 1-vs-2 worker scaling phase (keys + Redis limits and experts on)")
    parser.add_argument(
        "--baseline-src", type=Path, default=None, metavar="DIR",
        help="also measure the gateway of another source tree (e.g. `git worktree add DIR "
        "COMMIT`), edge and fallback paths, in the same interleaved rounds: an A/B of a change",
    )
    parser.add_argument(
        "--baseline-configs", action="store_true",
        help="with --baseline-src: measure that tree's operator configurations (--configs) too",
    )
    parser.add_argument(
        "--soak", type=float, default=0.0, metavar="SECONDS",
        help="after the table, run one path (--soak-path) this long at half its saturated RPS and report "
        "errors, RSS growth after warm-up, file descriptors and dataset records (1800 for 30 minutes)",
    )
    parser.add_argument("--soak-rate", type=float, default=None, help="soak rate in req/s (default: half the measured saturation)")
    parser.add_argument(
        "--soak-path", choices=["fallback", "edge"], default="fallback",
        help="fallback (default): every request goes edge -> cloud and writes a dataset record to the "
        "private redis-server; edge: answered by the edge, no records",
    )
    parser.add_argument(
        "--soak-only", action="store_true",
        help="skip the table: start only the upstream, redis and one gateway, measure its saturation "
        "for --seconds (unless --soak-rate) and soak; writes OUT/soak.json and OUT/soak.txt",
    )
    parser.set_defaults(func=main)


def options(args: argparse.Namespace) -> Options:
    seconds = args.seconds or (4.0 if args.quick else 10.0)
    return Options(
        out=args.out, tools_dir=args.tools_dir, upstream=args.upstream, connections=args.connections,
        rounds=args.rounds or (2 if args.quick else 3), saturation_s=seconds, rate_s=seconds,
        warmup_s=1.0 if args.quick else 2.0, rates=args.rates, latency_rate=args.latency_rate,
        litellm=not args.skip_litellm, install=not args.no_install, workers=not args.no_workers,
        soak_s=args.soak, soak_rate=args.soak_rate, soak_path=args.soak_path,
        baseline_src=args.baseline_src.resolve() if args.baseline_src else None,
        baseline_configs=args.baseline_configs,
        **({} if args.configs is None else {"configs": args.configs}),
    )


def main(args: argparse.Namespace) -> int:
    import orjson
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from bench.load import report
    from bench.load.run import measure

    opts = options(args)
    if args.soak_only:
        return soak_main(opts)
    if opts.latency_rate not in opts.rates:
        print("netgpt bench load: --latency-rate must be one of --rates", file=sys.stderr)  # noqa: T201
        return 2
    console = Console(stderr=True)
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("starting")
        try:
            result = measure(opts, lambda text: bar.update(task, description=text))
        except (RuntimeError, OSError) as exc:
            bar.stop()
            print(f"netgpt bench load: {exc}", file=sys.stderr)  # noqa: T201
            return 1
    text = report.table(result)
    opts.out.mkdir(parents=True, exist_ok=True)
    (opts.out / "result.json").write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    (opts.out / "table.txt").write_text(text + "\n")
    print(text)  # noqa: T201
    print(f"\nwritten: {opts.out / 'result.json'}, {opts.out / 'table.txt'}")  # noqa: T201
    return 0


def soak_main(opts: Options) -> int:
    import orjson
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from bench.load.soak import measure_soak, soak_lines

    if opts.soak_s <= 0:
        print("netgpt bench load: --soak-only needs --soak SECONDS", file=sys.stderr)  # noqa: T201
        return 2
    console = Console(stderr=True)
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("starting")
        try:
            result = measure_soak(
                out=opts.out, tools_dir=opts.tools_dir, path=opts.soak_path, seconds=opts.soak_s,
                rate=opts.soak_rate, connections=opts.connections, saturation_s=opts.saturation_s,
                upstream_kind=opts.upstream, step=lambda text: bar.update(task, description=text),
            )
        except (RuntimeError, OSError) as exc:
            bar.stop()
            print(f"netgpt bench load: {exc}", file=sys.stderr)  # noqa: T201
            return 1
    meta = result["meta"]
    head = (f"NetGPT soak  path {meta['path']}  upstream {meta['upstream']}  pinning {meta['pinning']}  "
            f"saturation {meta.get('saturation_rps', '-')} RPS  load avg before {meta['loadavg_before']}, "
            f"after {meta['loadavg_after']}")
    text = "\n".join([head, "", *soak_lines(result["soak"], opts.soak_path)])
    opts.out.mkdir(parents=True, exist_ok=True)
    (opts.out / "soak.json").write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    (opts.out / "soak.txt").write_text(text + "\n")
    try:
        from bench.load.soak import plot

        plot(result, opts.out / "soak.png")
    except ImportError:  # matplotlib comes with the bench extra
        pass
    print(text)  # noqa: T201
    print(f"\nwritten: {opts.out / 'soak.json'}, {opts.out / 'soak.txt'}")  # noqa: T201
    return 0
