"""What ``netgpt dataset export|stats|drain`` do (their options are in ``gateway.dataset.cli``)."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson

from gateway.config import ConfigError, Settings, load_settings

DEFAULT_CONSUMER = "netgpt-export"


def _err(message: str) -> None:
    sys.stderr.write(f"netgpt dataset: {message}\n")


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    if getattr(args, "redis_url", None):
        overrides["redis_url"] = args.redis_url
    if getattr(args, "data_dir", None):
        overrides["data_dir"] = args.data_dir
    settings = load_settings(**overrides)
    if getattr(args, "stream", None):
        settings.dataset.stream_key = args.stream
    return settings


def _safe_url(url: str) -> str:
    """The Redis URL without its credentials, for messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


@contextmanager
def _progress(enabled: bool, label: str, total: int | None) -> Iterator[Callable[[int], None]]:
    if not enabled:
        yield lambda _n: None
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


def _print(args: argparse.Namespace, data: dict[str, Any], render: Callable[[], None]) -> None:
    if args.json:
        sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        render()


def run_export(args: argparse.Namespace) -> int:
    from gateway.dataset.export import Exporter

    try:
        settings = _settings(args)
    except ConfigError as exc:
        _err(f"invalid setting: {exc}")
        return 2
    group = args.group or settings.dataset.export_group
    try:
        exporter = Exporter(
            args.out,
            shard_size=args.shard_size,
            validation_ratio=args.validation_ratio,
            include_text=args.include_text_answers,
        )
    except OSError as exc:
        _err(f"cannot write to {args.out}: {exc.strerror}; choose a writable --out DIR")
        return 1
    started = time.monotonic()
    if args.from_spool:
        from gateway.dataset.sources import export_from_spool
        from gateway.dataset.spool import spool_dir

        directory = spool_dir(settings.data_dir)
        with _progress(not args.no_progress, "exporting spool", None) as tick:
            read = export_from_spool(directory, group, exporter, batch=args.batch, tick=tick)
        lag: int | None = 0
        source = str(directory)
    else:
        if settings.redis_url is None:
            _err("no Redis configured: set NETGPT_REDIS_URL or --redis-url, or use --from-spool")
            exporter.close()
            return 2
        try:
            read, lag = asyncio.run(_export_redis(args, settings, group, exporter))
        except OSError as exc:  # redis ConnectionError is an OSError subclass too
            exporter.close()
            _err(
                f"cannot reach Redis at {_safe_url(settings.redis_url)} ({exc}); start it, fix "
                "NETGPT_REDIS_URL / --redis-url, or export the local spool with --from-spool"
            )
            return 1
        source = f"{_safe_url(settings.redis_url)} {settings.dataset.stream_key} group={group}"
    report = exporter.close()
    data = {
        "source": source,
        "group": group,
        **report.as_dict(),
        "lag_after": lag,
        "seconds": round(time.monotonic() - started, 3),
    }
    _print(args, data, lambda: _render_export(data))
    return 0


async def _export_redis(
    args: argparse.Namespace, settings: Settings, group: str, exporter: Any
) -> tuple[int, int | None]:
    from redis.asyncio import Redis
    from redis.exceptions import ConnectionError as RedisConnectionError

    from gateway.dataset.sources import export_from_redis, group_lag

    assert settings.redis_url is not None
    key = settings.dataset.stream_key
    client = Redis.from_url(settings.redis_url, socket_connect_timeout=3.0)
    try:
        try:
            total = await group_lag(client, key, group)
            if total is None:
                total = await client.xlen(key)
        except RedisConnectionError as exc:
            raise OSError(str(exc)) from None
        with _progress(not args.no_progress, "exporting", total) as tick:
            read = await export_from_redis(
                client, key, group, args.consumer, exporter, batch=args.batch, tick=tick
            )
        return read, await group_lag(client, key, group)
    finally:
        await client.aclose()


def _render_export(data: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"export from {data['source']}", show_header=False)
    table.add_row("records read", str(data["read"]))
    for split, count in sorted(data["written"].items()):
        table.add_row(f"written: {split}", str(count))
    for reason, count in sorted(data["skipped"].items()):
        table.add_row(f"skipped: {reason}", str(count))
    table.add_row("files", "\n".join(data["files"]) or "(nothing new)")
    table.add_row("lag after", str(data["lag_after"]))
    console.print(table)


def run_stats(args: argparse.Namespace) -> int:
    from gateway.dataset.spool import spool_dir
    from gateway.dataset.stats import stats_from_redis, stats_from_spool

    try:
        settings = _settings(args)
    except ConfigError as exc:
        _err(f"invalid setting: {exc}")
        return 2
    if args.from_spool:
        stats = stats_from_spool(spool_dir(settings.data_dir))
        source = str(spool_dir(settings.data_dir))
    else:
        if settings.redis_url is None:
            _err("no Redis configured: set NETGPT_REDIS_URL or --redis-url, or use --from-spool")
            return 2
        url = settings.redis_url

        async def scan() -> Any:
            from redis.asyncio import Redis

            client = Redis.from_url(url, socket_connect_timeout=3.0)
            try:
                total = await client.xlen(settings.dataset.stream_key)
                with _progress(not args.no_progress, "scanning", total) as tick:
                    return await stats_from_redis(client, settings.dataset.stream_key, tick=tick)
            finally:
                await client.aclose()

        try:
            stats = asyncio.run(scan())
        except OSError as exc:
            _err(
                f"cannot reach Redis at {_safe_url(url)} ({exc}); start it, fix NETGPT_REDIS_URL"
                " / --redis-url, or count the local spool with --from-spool"
            )
            return 1
        source = f"{_safe_url(url)} {settings.dataset.stream_key}"
    data = {"source": source, **stats.as_dict()}
    _print(args, data, lambda: _render_stats(data))
    return 0


def _render_stats(data: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    from gateway.dataset.stats import DIMENSIONS

    console = Console()
    console.print(f"[bold]{data['total']}[/bold] records in {data['source']}"
                  + (f" ({data['unreadable']} unreadable)" if data["unreadable"] else ""))
    for name in DIMENSIONS:
        table = Table(title=f"by {name}")
        table.add_column(name)
        table.add_column("records", justify="right")
        for key, count in data[name].items():
            table.add_row(key, str(count))
        console.print(table)


def run_drain(args: argparse.Namespace) -> int:
    from gateway.dataset.spool import SpoolLocked

    try:
        settings = _settings(args)
    except ConfigError as exc:
        _err(f"invalid setting: {exc}")
        return 2
    if settings.redis_url is None:
        _err("no Redis configured: set NETGPT_REDIS_URL or --redis-url")
        return 2
    try:
        left, moved = asyncio.run(_drain(settings, args.timeout))
    except SpoolLocked as exc:
        _err(str(exc))
        return 1
    sys.stdout.write(f"drained {moved} records; {left} left in the spool\n")
    if left:
        _err(f"Redis at {_safe_url(settings.redis_url)} did not take everything in "
             f"{args.timeout:.0f}s; check it is up and run again")
        return 1
    return 0


async def _drain(settings: Settings, timeout_s: float) -> tuple[int, int]:
    from gateway.dataset.writer import DatasetWriter
    from gateway.metrics import GatewayMetrics

    writer = DatasetWriter(settings, GatewayMetrics())
    await writer.start()
    try:
        deadline = time.monotonic() + timeout_s
        while writer.stats()["spool_depth"] and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
    finally:
        await writer.stop()
    stats = writer.stats()
    return int(stats["spool_depth"]), int(stats["records"]["redis"])
