"""Reading dataset records back: from the local spool and from the Redis stream, read-only.

One set of readers for every consumer (calibration refit, expert quality, the verifier's fit,
benchmarks): each yields the record dicts the dataset writer wrote, skipping unreadable lines.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
from redis.asyncio import Redis

_PAGE = 1000


def _decode(raw: bytes | str) -> dict[str, Any] | None:
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if isinstance(value, dict) and isinstance(value.get("record"), dict):
        value = value["record"]
    return value if isinstance(value, dict) else None


def spool_records(data_dir: Path) -> Iterator[dict[str, Any]]:
    """Every readable record in the local spool (``DATA_DIR/dataset/spool.jsonl``)."""
    from gateway.dataset.spool import iter_lines, spool_dir

    for _, line in iter_lines(spool_dir(data_dir)):
        record = _decode(line)
        if record is not None:
            yield record


async def redis_records(
    redis: Redis, key: str, *, tick: Callable[[int], None] | None = None
) -> AsyncIterator[dict[str, Any]]:
    """Every readable record of the stream, oldest first (XRANGE pages; read-only)."""
    cursor = "-"
    while True:
        page = await redis.xrange(key, min=cursor, max="+", count=_PAGE)
        if not page:
            return
        for _entry_id, fields in page:
            raw = (fields or {}).get(b"record") or (fields or {}).get("record")
            record = _decode(raw) if raw is not None else None
            if record is not None:
                yield record
        if tick is not None:
            tick(len(page))
        if len(page) < _PAGE:
            return
        last = page[-1][0]
        cursor = "(" + (last.decode() if isinstance(last, bytes) else str(last))


async def logged_records(
    redis: Redis | None, stream_key: str, data_dir: Path
) -> tuple[list[dict[str, Any]], str]:
    """(every logged record, where they came from): the Redis stream when there is Redis, the
    local spool otherwise. Read once and handed to every refit that needs them."""
    if redis is not None:
        return [r async for r in redis_records(redis, stream_key)], f"redis stream {stream_key}"
    records = await asyncio.to_thread(lambda: list(spool_records(data_dir)))
    return records, "spool"
