"""Counts of logged records by route, reason, kind, tool and day (``netgpt dataset stats``)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError
from redis.asyncio import Redis

from gateway.dataset.record import decode
from gateway.dataset.spool import committed_offset, iter_lines

NO_CALL = "(no tool call)"
DIMENSIONS = ("route", "reason", "kind", "tool", "day")


@dataclass
class DatasetStats:
    """Counters over records; ``tool`` counts the functions the cloud answer called."""

    total: int = 0
    unreadable: int = 0
    by: dict[str, Counter[str]] = field(
        default_factory=lambda: {name: Counter() for name in DIMENSIONS}
    )

    def add(self, raw: bytes) -> None:
        try:
            record = decode(raw)
        except (orjson.JSONDecodeError, ValidationError):
            self.unreadable += 1
            return
        self.total += 1
        self.by["route"][record.route] += 1
        self.by["reason"][record.reason or "(none)"] += 1
        self.by["kind"][record.kind] += 1
        day = dt.datetime.fromtimestamp(record.created_at, tz=dt.UTC).date().isoformat()
        self.by["day"][day] += 1
        message = record.cloud_response.message if record.cloud_response else {}
        calls = message.get("tool_calls") or []
        if not calls:
            self.by["tool"][NO_CALL] += 1
        for call in calls:
            self.by["tool"][str((call.get("function") or {}).get("name"))] += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "unreadable": self.unreadable,
            **{name: dict(sorted(counts.items())) for name, counts in self.by.items()},
        }


async def stats_from_redis(
    client: Redis, key: str, *, page: int = 1000, tick: Callable[[int], None] | None = None
) -> DatasetStats:
    """Scan the whole stream with XRANGE (read-only: no consumer group involved)."""
    stats = DatasetStats()
    start: Any = "-"
    while True:
        entries = await client.xrange(key, min=start, max="+", count=page)
        if not entries:
            return stats
        for _entry_id, fields in entries:
            fields = fields or {}
            raw = fields.get(b"record") or fields.get("record")
            if raw is not None:
                stats.add(raw if isinstance(raw, bytes) else str(raw).encode())
        last = entries[-1][0]
        start = b"(" + last if isinstance(last, bytes) else f"({last}"
        if tick is not None:
            tick(len(entries))


def stats_from_spool(directory: Path) -> DatasetStats:
    """Records waiting in (or, without Redis, kept by) the spool."""
    stats = DatasetStats()
    offset, _ = committed_offset(directory)
    for _end, line in iter_lines(directory, start=offset):
        stats.add(line)
    return stats
