"""``netgpt``: the command line.

Each command group lives in its own module exposing ``register(subparsers)``; heavy imports
(uvicorn, torch, matplotlib) happen only inside the function a command runs, so ``--help`` stays
fast and the serving path never imports training code.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# command group -> module with register(subparsers). Add a line to add a command group.
COMMANDS: dict[str, str] = {
    "serve": "gateway.server.serve",
    "bench": "bench.cli",
    "dataset": "gateway.dataset.cli",
    "calibrate": "gateway.policy.calibrate_cli",
    "train": "edge_worker.training.cli",
    "edge": "edge_worker.cli",
    "demo": "bench.demo.cli",
    "loop": "bench.loop.cli",
    "keys": "gateway.tenancy.cli",
}


def build_parser() -> argparse.ArgumentParser:
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = args.func(args)
    except KeyboardInterrupt:
        return 130
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
