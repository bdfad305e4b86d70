"""Redis Streams sink: idempotent, pipelined XADD of encoded records.

Each record is added by a Lua script that first sets a marker ``<stream>:seen:<id>`` with
``NX EX ttl`` and adds the entry only when the marker is new, atomically. A batch that reached
Redis but whose reply was lost (connection cut, process killed) is spooled and replayed later;
the replay then finds the markers and adds nothing, so the stream never holds a record twice.
Markers expire after ``NETGPT_DATASET_DEDUP_TTL_S``: long enough for any spool to drain.

Stream entries: ``XADD <key> MAXLEN ~ <maxlen> * record <json>`` (the ``record`` field is the
contract in ARCHITECTURE.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

# KEYS[1] = stream, KEYS[1+i] = marker of record i; ARGV[1] = maxlen, ARGV[2] = ttl,
# ARGV[2+i] = record i. Returns the number of entries added.
_ADD_ONCE = """
local added = 0
for i = 2, #KEYS do
  if redis.call('SET', KEYS[i], '1', 'NX', 'EX', ARGV[2]) then
    redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'record', ARGV[i + 1])
    added = added + 1
  end
end
return added
"""

SCRIPT_CHUNK = 256  # records per script call: keeps each atomic call short for Redis


class StreamSink:
    """Writes batches of ``(id, encoded record)`` to one stream; raises redis errors as-is.

    Example::

        sink = StreamSink(Redis.from_url(url), "netgpt:pairs", maxlen=1_000_000, ttl_s=604800)
        added = await sink.write([("r1:routed", b'{...}')])
    """

    def __init__(self, client: Redis, key: str, *, maxlen: int, ttl_s: int) -> None:
        self.client = client
        self.key = key
        self.maxlen = maxlen
        self.ttl_s = ttl_s
        self._script = client.register_script(_ADD_ONCE)

    def marker(self, record_id: str) -> str:
        return f"{self.key}:seen:{record_id}"

    async def write(self, batch: Sequence[tuple[str, bytes]]) -> int:
        """Add the records not seen before, in order, in one round trip; returns how many."""
        if not batch:
            return 0
        async with self.client.pipeline(transaction=False) as pipe:
            for start in range(0, len(batch), SCRIPT_CHUNK):
                chunk = batch[start : start + SCRIPT_CHUNK]
                keys = [self.key, *(self.marker(record_id) for record_id, _ in chunk)]
                args: list[Any] = [self.maxlen, self.ttl_s, *(payload for _, payload in chunk)]
                await self._script(keys=keys, args=args, client=pipe)
            results = await pipe.execute()
        return sum(int(r) for r in results)

    async def ping(self) -> bool:
        return bool(await self.client.ping())

    async def group_lag(self, group: str) -> int | None:
        """Entries not yet delivered to ``group`` (Redis >= 7), or None without the group."""
        try:
            groups = await self.client.xinfo_groups(self.key)
        except ResponseError:  # no stream yet: nothing to lag behind
            return None
        for info in groups:
            name = info.get("name")
            if isinstance(name, bytes):
                name = name.decode()
            if name == group:
                lag = info.get("lag")
                return int(lag) if lag is not None else None
        return None
