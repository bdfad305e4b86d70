"""``netgpt``: the command line.

Each command group lives in its own module exposing ``register(subparsers)``; heavy imports
(uvicorn, torch, matplotlib) happen only inside the function a command runs, so ``--help`` stays
fast and the serving path never imports training code.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Sequence

# command group -> module with register(subparsers). Add a line to add a command group.
COMMANDS: dict[str, str] = {
    "serve": "gateway.server.serve",
    "dataset": "gateway.dataset.cli",
    "calibrate": "gateway.policy.calibrate_cli",
    "train": "edge_worker.training.cli",
    "edge": "edge_worker.cli",
    "learn": "edge_worker.learning.cli",
    "keys": "gateway.tenancy.cli",
}
# Benchmark and demo commands: registered only when the source tree's bench package is
# importable (a development checkout), so an installed gateway never needs or loads bench.
# Until one of them runs, each is a stub with its one-line help: building the parser (for
# `netgpt serve` or `netgpt --help`) imports no bench module.
BENCH_COMMANDS: dict[str, tuple[str, str]] = {
    "bench": ("bench.cli", "benchmarks: routing, load, experts, testbed, edge-signal"),
    "demo": ("bench.demo.cli", "live demo: the real gateway between replayed edge/cloud models "
                               "on a real network trace"),
    "loop": ("bench.loop.cli", "the learning-loop benchmark on BFCL with the real edge: "
                               "traffic -> Redis -> export -> train -> ship -> measure"),
}


def bench_available() -> bool:
    """True when ``bench`` can be imported (found, not imported: that stays for its commands)."""
    try:
        return importlib.util.find_spec("bench") is not None
    except (ImportError, ValueError):
        return False


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The full parser; ``command``: the bench command about to run, registered in full."""
    parser = argparse.ArgumentParser(
        prog="netgpt",
        description=(
            "NetGPT gateway: answers OpenAI tool-calling requests with an edge model when its "
            "answer is good enough and falls back to a cloud model when it is not, on a "
            "threshold that follows the live network, the cloud's price and a budget."
        ),
        epilog="Settings come from NETGPT_* environment variables; see the README's table.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS.values():
        importlib.import_module(module).register(sub)
    if bench_available():
        for name, (module, help_text) in BENCH_COMMANDS.items():
            if name == command:
                importlib.import_module(module).register(sub)
            else:
                sub.add_parser(name, help=help_text)
    return parser


def _command(argv: Sequence[str]) -> str | None:
    """The command named in ``argv`` (the top level takes no option but -h)."""
    return next((a for a in argv if not a.startswith("-")), None)


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_command(args_list))
    args = parser.parse_args(args_list)
    try:
        code = args.func(args)
    except KeyboardInterrupt:
        return 130
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
