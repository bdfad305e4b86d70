"""``netgpt bench``: benchmark commands, a registry like ``gateway.cli``.

Each subcommand lives in its own module exposing ``register(subparsers)``; heavy imports
(numpy, matplotlib) happen only when a command runs.
"""

from __future__ import annotations

import argparse
import importlib

# subcommand -> module with register(subparsers). Add a line to add a benchmark.
SUBCOMMANDS: dict[str, str] = {
    "routing": "bench.routing.cli",
    "load": "bench.load.cli",
    "experts": "bench.experts.cli",
    "testbed": "bench.experts.testbed.cli",
    "edge-signal": "bench.edge_signal.cli",
}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="benchmarks: routing on real data",
        description="Benchmarks of the gateway. Each writes its figures and a report.",
    )
    sub = parser.add_subparsers(dest="bench_command", metavar="BENCHMARK", required=True)
    for module in SUBCOMMANDS.values():
        importlib.import_module(module).register(sub)
