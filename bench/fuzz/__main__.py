"""python -m bench.fuzz {openapi,parser}: the fuzzers of docs/fuzzing.md.

    python -m bench.fuzz openapi --max-examples 300 --seeds 1-10   # schemathesis, a few minutes
    python -m bench.fuzz parser --seconds 300                  # atheris, bounded time

Exit status 1 when a fuzzer found a failure (the reports under --out say which and how to
reproduce it), 0 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table


def _openapi(args: argparse.Namespace, console: Console) -> int:
    from bench.fuzz.openapi import per_operation, run

    with console.status(f"schemathesis: {args.max_examples} examples per operation, seeds {args.seeds}"):
        summary = run(args.out, max_examples=args.max_examples, seeds=args.seeds, workers=args.workers)
    table = Table(title=f"schemathesis against /openapi.json ({summary['cases']} cases, {summary['wall_s']} s)")
    for column in ("operation", "accepted", "rejected (4xx)"):
        table.add_column(column)
    for op, accepted, rejected in per_operation(summary):
        table.add_row(op, str(accepted), str(rejected))
    console.print(table)
    console.print(f"failures: {summary['failures'] or 'none'}; errors: {summary['errors'] or 'none'}; "
                  f"500s logged by the gateway: {summary['unhandled_errors_logged']}")
    if args.json:
        print(json.dumps({k: v for k, v in summary.items() if k != "console_tail"}, indent=2))
    failed = bool(summary["failures"] or summary["errors"] or summary["unhandled_errors_logged"])
    if failed:
        console.print(summary["console_tail"])
    console.print(f"reports: {args.out}")
    return 1 if failed else 0


def _parser(args: argparse.Namespace, console: Console) -> int:
    from bench.fuzz.parser import run

    with console.status(f"atheris on parse_request + offload + schema guard for {args.seconds} s"):
        result = run(args.out, seconds=args.seconds, seed=args.seed)
    console.print(
        f"{result['executions']} inputs in {result['wall_s']} s ({result['execs_per_s']}/s), "
        f"coverage {result['coverage_edges']} edges / {result['features']} features, "
        f"corpus {result['corpus_files']} inputs, peak RSS {result['peak_rss_mb']} MB, "
        f"crashes: {result['crashes'] or 'none'}"
    )
    if args.json:
        print(json.dumps({k: v for k, v in result.items() if k != "log_tail"}, indent=2))
    failed = bool(result["crashes"]) or result["exit_code"] != 0
    if failed:
        console.print(result["log_tail"])
    console.print(f"corpus, crashes and the libFuzzer log: {args.out}")
    return 1 if failed else 0


def _seeds(text: str) -> list[int]:
    if "-" in text:
        first, last = (int(part) for part in text.split("-", 1))
        return list(range(first, last + 1))
    return [int(part) for part in text.split(",")]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fuzz", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="fuzzer", required=True, metavar="FUZZER")
    api = sub.add_parser("openapi", help="schemathesis against the gateway's /openapi.json (fake upstreams)")
    api.add_argument("--max-examples", type=int, default=300,
                     help="examples per operation and phase (default: %(default)s)")
    api.add_argument("--seeds", type=_seeds, default=[1, 2, 3],
                     help="schemathesis seeds, one run each: 1,2,3 or 1-10 (default: 1-3)")
    api.add_argument("--workers", type=int, default=2, help="concurrent schemathesis workers (default: %(default)s)")
    par = sub.add_parser("parser", help="atheris (libFuzzer) on the request parser and the schema guard")
    par.add_argument("--seconds", type=int, default=300, help="fuzzing time (default: %(default)s)")
    par.add_argument("--seed", type=int, default=1, help="libFuzzer seed (default: %(default)s)")
    for p in (api, par):
        p.add_argument("--out", type=Path, default=None,
                       help="directory for reports, corpus and logs (default: a new temporary one)")
        p.add_argument("--json", action="store_true", help="also print the summary as JSON")
    args = parser.parse_args(argv)
    args.out = args.out or Path(tempfile.mkdtemp(prefix=f"netgpt-fuzz-{args.fuzzer}-"))
    args.out.mkdir(parents=True, exist_ok=True)
    console = Console(stderr=True)
    return _openapi(args, console) if args.fuzzer == "openapi" else _parser(args, console)


if __name__ == "__main__":
    sys.exit(main())
