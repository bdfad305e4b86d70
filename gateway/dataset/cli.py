"""``netgpt dataset``: export the logged pairs for training, print counts, drain the spool."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from gateway.dataset.commands import DEFAULT_CONSUMER, run_drain, run_export, run_stats


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "dataset",
        help="export logged cloud pairs for training, show counts, drain the spool",
        description=(
            "The gateway logs every cloud-routed (and shadow) request with the cloud's answer to "
            "the Redis stream NETGPT_DATASET_STREAM_KEY (default netgpt:pairs), or to the spool "
            "file under NETGPT_DATA_DIR/dataset when Redis is unset or down."
        ),
    )
    sub = parser.add_subparsers(dest="dataset_command", metavar="SUBCOMMAND", required=True)
    _export_parser(sub)
    _stats_parser(sub)
    _drain_parser(sub)


def _source_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--from-spool",
        action="store_true",
        help="read the local spool (NETGPT_DATA_DIR/dataset/spool.jsonl) instead of Redis",
    )
    parser.add_argument(
        "--redis-url", metavar="URL", help="Redis to read (default: NETGPT_REDIS_URL)"
    )
    parser.add_argument(
        "--stream", metavar="KEY", help="stream key (default: NETGPT_DATASET_STREAM_KEY)"
    )
    parser.add_argument(
        "--data-dir", type=Path, metavar="DIR", help="data directory (default: NETGPT_DATA_DIR)"
    )
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _export_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "export",
        help="write JSONL shards for TRL's SFTTrainer (messages + tools)",
        description=(
            "Export logged pairs as DIR/train-NNNNN.jsonl and DIR/validation-NNNNN.jsonl in "
            "TRL's conversational format: the request's messages followed by the cloud's "
            "assistant tool calls (the training target), with the request's tools. Only "
            "answers that validate against their tools' JSON Schemas are kept; a request "
            "already exported to DIR is dropped. Reading goes through a Redis consumer group, "
            "so a second run exports only what is new; an interrupted run resumes."
        ),
    )
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="output directory")
    _source_options(parser)
    parser.add_argument(
        "--group",
        metavar="NAME",
        help="consumer group; each group exports every record once "
        "(default: NETGPT_DATASET_EXPORT_GROUP, 'export')",
    )
    parser.add_argument(
        "--consumer",
        default=DEFAULT_CONSUMER,
        metavar="NAME",
        help=f"consumer name inside the group; reuse it to resume an interrupted run "
        f"(default: {DEFAULT_CONSUMER})",
    )
    parser.add_argument(
        "--validation-ratio",
        type=_ratio,
        default=0.05,
        metavar="R",
        help="share of requests (by request hash, so stable) in the validation split "
        "(default: 0.05)",
    )
    parser.add_argument(
        "--shard-size",
        type=_positive,
        default=10_000,
        metavar="N",
        help="examples per shard file (default: 10000)",
    )
    parser.add_argument(
        "--batch",
        type=_positive,
        default=500,
        metavar="N",
        help="records read and acknowledged per round trip (default: 500)",
    )
    parser.add_argument(
        "--include-text-answers",
        action="store_true",
        help="also keep cloud answers that call no tool (target = the assistant's text)",
    )
    parser.set_defaults(func=run_export)


def _stats_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "stats",
        help="count logged records by route, reason, kind, tool and day",
        description="Scan the stream (read-only, no consumer group) or the spool and print "
        "record counts by route, reason, kind (routed/shadow), called tool and UTC day.",
    )
    _source_options(parser)
    parser.set_defaults(func=run_stats)


def _drain_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "drain",
        help="move the spool into Redis now (with the gateway stopped)",
        description="Write the records waiting in the spool to the Redis stream, in order and "
        "without duplicates, then exit. A running gateway does this by itself; use this when "
        "it is stopped. Fails if a gateway holds the spool.",
    )
    parser.add_argument(
        "--redis-url", metavar="URL", help="Redis to write (default: NETGPT_REDIS_URL)"
    )
    parser.add_argument(
        "--data-dir", type=Path, metavar="DIR", help="data directory (default: NETGPT_DATA_DIR)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        metavar="S",
        help="give up after S seconds (default: 300)",
    )
    parser.set_defaults(func=run_drain)


def _ratio(text: str) -> float:
    value = float(text)
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError("must be in [0, 1)")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value
