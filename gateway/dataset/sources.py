"""Where an export reads records from: a Redis consumer group, or the local spool.

Both hand raw record bytes to an :class:`~gateway.dataset.export.Exporter`, make its shards
durable (``flush``), and only then record progress (``XACK``, or the saved spool position), so
an interrupted export re-reads rather than loses; the exporter's hash dedup absorbs the re-read.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from gateway.dataset.export import Exporter
from gateway.dataset.spool import atomic_write, committed_offset, iter_lines

Tick = Callable[[int], None]


def _entries(reply: Any) -> list[tuple[Any, dict[Any, Any] | None]]:
    """Entries of a single-stream XREADGROUP reply (RESP2 list or RESP3 dict)."""
    if not reply:
        return []
    if isinstance(reply, dict):  # RESP3: {stream: [[id, fields], ...]}
        return [tuple(entry) for entry in next(iter(reply.values()))]
    return list(reply[0][1])


async def ensure_group(client: Redis, key: str, group: str) -> None:
    """Create the consumer group at the start of the stream (idempotent)."""
    try:
        await client.xgroup_create(key, group, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


async def export_from_redis(
    client: Redis,
    key: str,
    group: str,
    consumer: str,
    exporter: Exporter,
    *,
    batch: int = 500,
    tick: Tick | None = None,
) -> int:
    """Export every entry not yet acknowledged by ``group``; returns how many were read.

    First this consumer's own pending entries (delivered to an interrupted run, never
    acknowledged), then new ones (``>``)."""
    await ensure_group(client, key, group)
    total = 0
    for start in ("0", ">"):
        cursor = start
        while True:
            reply = await client.xreadgroup(group, consumer, {key: cursor}, count=batch)
            entries = _entries(reply)
            if not entries:
                break
            for _entry_id, fields in entries:
                raw = (fields or {}).get(b"record") or (fields or {}).get("record")
                if raw is None:  # trimmed by MAXLEN while pending: nothing left to export
                    continue
                exporter.add(raw if isinstance(raw, bytes) else str(raw).encode())
            exporter.flush()
            await client.xack(key, group, *[entry_id for entry_id, _ in entries])
            total += len(entries)
            if tick is not None:
                tick(len(entries))
            if start == "0":
                cursor = entries[-1][0]
    return total


async def group_lag(client: Redis, key: str, group: str) -> int | None:
    try:
        groups = await client.xinfo_groups(key)
    except ResponseError:
        return None
    for info in groups:
        name = info.get("name")
        if (name.decode() if isinstance(name, bytes) else name) == group:
            lag = info.get("lag")
            return None if lag is None else int(lag)
    return None


def _state_path(directory: Path, group: str) -> Path:
    return directory / f"export-{re.sub(r'[^A-Za-z0-9_.-]', '_', group)}.json"


def spool_start(directory: Path, group: str) -> int:
    """Where ``group`` resumes in the spool: its saved position while the spool file is the
    same generation, else the spool's committed offset (lines before it are in Redis)."""
    offset, generation = committed_offset(directory)
    try:
        state = orjson.loads(_state_path(directory, group).read_bytes())
        if int(state["generation"]) == generation:
            return max(offset, int(state["offset"]))
    except (FileNotFoundError, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        pass
    return offset


def export_from_spool(
    directory: Path,
    group: str,
    exporter: Exporter,
    *,
    batch: int = 1000,
    tick: Tick | None = None,
) -> int:
    """Export the spool's records not yet exported by ``group``; returns how many were read."""
    _, generation = committed_offset(directory)
    position = spool_start(directory, group)
    total = 0
    pending = 0

    def save() -> None:
        exporter.flush()
        atomic_write(
            _state_path(directory, group),
            orjson.dumps({"offset": position, "generation": generation}),
        )

    for end, line in iter_lines(directory, start=position):
        exporter.add(line)
        position = end
        total += 1
        pending += 1
        if pending >= batch:
            save()
            if tick is not None:
                tick(pending)
            pending = 0
    if total:
        save()
    if tick is not None and pending:
        tick(pending)
    return total
