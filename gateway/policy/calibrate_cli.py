"""``netgpt calibrate``: refit the score calibration from logged pairs (spool or Redis) and
write it where the gateway loads it (``gateway.policy.calibration_store``)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.config import ConfigError, Settings, load_settings
from gateway.dataset.readers import redis_records, spool_records
from gateway.policy.calibration_store import fit_records, save_calibration
from gateway.routing.calibration import CalibrationError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "calibrate",
        help="refit the score calibration from logged edge/cloud pairs",
        description=(
            "Fit raw edge score -> P(edge draft acceptable) on logged pairs (label: the edge "
            "draft's tool calls equal the cloud's) and write it where the gateway loads it at "
            "start. Restart the gateway (or let it refit) to use the new fit."
        ),
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--from-redis",
        action="store_true",
        help="read the Redis stream NETGPT_DATASET_STREAM_KEY (default when NETGPT_REDIS_URL is set)",
    )
    source.add_argument(
        "--from-spool",
        action="store_true",
        help="read the local spool NETGPT_DATA_DIR/dataset/spool.jsonl (default without Redis)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="where to write the fit (default NETGPT_CALIBRATION_FILE or DATA_DIR/calibration.json)",
    )
    parser.add_argument(
        "--method",
        choices=["isotonic", "platt"],
        default=None,
        help="isotonic regression or Platt scaling (default NETGPT_CALIBRATION_METHOD, isotonic)",
    )
    parser.add_argument(
        "--min-records",
        type=int,
        default=None,
        help="refuse to fit on fewer usable records (default NETGPT_CALIBRATION_MIN_RECORDS, 50)",
    )
    parser.add_argument("--redis-url", default=None, help="overrides NETGPT_REDIS_URL")
    parser.add_argument("--data-dir", type=Path, default=None, help="overrides NETGPT_DATA_DIR")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def _err(message: str) -> int:
    sys.stderr.write(f"netgpt calibrate: {message}\n")
    return 1


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    if args.redis_url:
        overrides["redis_url"] = args.redis_url
    if args.data_dir:
        overrides["data_dir"] = args.data_dir
    settings = load_settings(**overrides)
    cal = settings.calibration.model_copy(
        update={
            k: v
            for k, v in (
                ("method", args.method),
                ("min_records", args.min_records),
                ("file", args.out),
            )
            if v is not None
        }
    )
    return settings.model_copy(update={"calibration": cal})


async def _read_redis(settings: Settings, progress: bool) -> list[dict[str, Any]]:
    from rich.progress import Progress

    assert settings.redis_url is not None
    redis = Redis.from_url(settings.redis_url)
    try:
        key = settings.dataset.stream_key
        total = await redis.xlen(key)
        with Progress(disable=not progress, transient=True) as bar:
            task = bar.add_task(f"reading {key}", total=total)
            return [r async for r in redis_records(redis, key, tick=lambda n: bar.advance(task, n))]
    finally:
        await redis.aclose()


def run(args: argparse.Namespace) -> int:
    try:
        settings = _settings(args)
    except ConfigError as exc:
        return _err(str(exc))
    use_redis = args.from_redis or (not args.from_spool and settings.redis_url is not None)
    progress = not args.no_progress and sys.stderr.isatty()
    try:
        if use_redis:
            if settings.redis_url is None:
                return _err(
                    "no Redis configured: set NETGPT_REDIS_URL or --redis-url, or use --from-spool"
                )
            source = f"redis stream {settings.dataset.stream_key}"
            records: Iterable[dict[str, Any]] = asyncio.run(_read_redis(settings, progress))
        else:
            source = f"spool {settings.data_dir / 'dataset'}"
            records = spool_records(settings.data_dir)
        calibration, meta = fit_records(records, settings, source=source)
        save_calibration(settings.calibration_file, calibration, meta)
    except (RedisError, OSError) as exc:
        return _err(
            f"cannot read records ({type(exc).__name__}: {exc}); check NETGPT_REDIS_URL / the data dir"
        )
    except CalibrationError as exc:
        return _err(str(exc))
    sys.stdout.write(
        f"fitted {meta['method']} calibration on {meta['n']} records "
        f"({meta['positives']} agreeing, {meta['skipped']} skipped) from {source}\n"
        f"wrote {settings.calibration_file}\n"
    )
    return 0
