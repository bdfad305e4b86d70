"""``DatasetWriter``: the off-hot-path writer of dataset records (Redis Stream, else spool).

The request path calls :meth:`DatasetWriter.submit` (sync, ``put_nowait`` into a bounded queue).
One background task takes batches from the queue, validates and redacts them (in a worker
thread), and writes them:

- to Redis (one pipelined, idempotent script call per batch) while Redis is healthy *and the
  spool is empty* -- records keep their order because nothing overtakes the spool;
- otherwise to the spool (append + one fsync per batch). While records wait in the spool the
  task probes Redis with capped exponential backoff and, once it answers, drains the spool in
  order, then goes back to writing directly.

When the queue is full, ``submit`` spools synchronously: first everything still queued, then the
new record, so order is kept (the only exception: a batch already in flight to Redis that fails
then lands behind them). Without ``NETGPT_REDIS_URL`` the spool is the sink. :meth:`stop` flushes
the queue to Redis or the spool, so a graceful shutdown (SIGTERM) loses nothing accepted.

Example (what ``gateway.app`` does)::

    writer = DatasetWriter(settings, metrics, lambda: redis_client(settings.redis_url))
    await writer.start()
    writer.submit(record_dict)       # from the request path
    await writer.stop()              # in the lifespan's shutdown
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from typing import Any

import orjson
from pydantic import ValidationError
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from gateway.config import Settings
from gateway.dataset.record import DatasetRecord, encode
from gateway.dataset.redact import Redactor
from gateway.dataset.sink import StreamSink
from gateway.dataset.spool import Spool, spool_dir
from gateway.infra.redis import redis_from_url
from gateway.infra.tasks import cancel_and_wait
from gateway.metrics import GatewayMetrics

log = logging.getLogger("netgpt.dataset")

RedisFactory = Callable[[], Redis]
Encoded = list[tuple[str, bytes]]

BACKOFF_BASE_S = 0.05
WRITE_TIMEOUT_S = 5.0
LAG_REFRESH_S = 15.0
IDLE_WAKE_S = 0.25  # how often an idle task looks at the spool and Redis
# what a Redis call raises when Redis is away; RuntimeError too: under uvloop, redis-py writing
# to a connection whose transport was closed by a reset raises it ("the handler is closed")
# instead of a ConnectionError, and it killed the writer task (tests/faults: Redis restart)
SINK_ERRORS = (RedisError, OSError, TimeoutError, RuntimeError)


def redis_client(url: str) -> Redis:
    """A client for the writer: short timeouts and no retries inside redis-py, because the
    writer has its own backoff and must fall back to the spool quickly."""
    return redis_from_url(
        url,
        socket_connect_timeout=1.0,
        socket_timeout=WRITE_TIMEOUT_S,
        retry=Retry(NoBackoff(), 0),
    )


class DatasetWriter:
    """Writes dataset records off the request path; see the module docstring.

    ``redis_factory`` builds the Redis client inside the running loop (at :meth:`start`);
    ``None`` with ``settings.redis_url`` set uses :func:`redis_client`; ``None`` without it
    makes the spool the only sink.
    """

    def __init__(
        self,
        settings: Settings,
        metrics: GatewayMetrics,
        redis_factory: RedisFactory | None = None,
    ) -> None:
        ds = settings.dataset
        self._settings = ds
        self._metrics = metrics
        self._redactor = Redactor.from_settings(settings)
        url = settings.redis_url
        if redis_factory is None and url is not None:
            redis_factory = lambda: redis_client(url)  # noqa: E731
        self._redis_factory = redis_factory
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=ds.queue_size)
        self._spool = Spool(spool_dir(settings.data_dir), ds.spool_max_bytes, on_drop=self._dropped)
        self._sink: StreamSink | None = None
        self._task: asyncio.Task[None] | None = None
        self._running = False
        self._stopping = False
        self._healthy = False
        self._failures = 0
        self._next_try = 0.0
        self._next_lag = 0.0
        self._lag: int | None = None
        self._counts = {"redis": 0, "spool": 0, "dropped": 0, "invalid": 0, "duplicate": 0}

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the spool (counting what an earlier run left) and start the background task."""
        if self._running or not self._settings.enabled:
            return
        await asyncio.to_thread(self._spool.open)
        if self._spool.pending:
            log.info("dataset spool holds %d records from an earlier run", self._spool.pending)
        if self._redis_factory is not None:
            client = self._redis_factory()
            self._sink = StreamSink(
                client,
                self._settings.stream_key,
                maxlen=self._settings.stream_maxlen,
                ttl_s=self._settings.dedup_ttl_s,
            )
        self._running = True
        self._stopping = False
        self._update_gauges()
        self._task = asyncio.create_task(self._run(), name="dataset-writer")

    async def stop(self, timeout_s: float = 10.0) -> None:
        """Flush the queue to Redis (if healthy) or the spool, then close; idempotent."""
        if not self._running:
            return
        self._stopping = True
        task = self._task
        if task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(task), timeout_s)
            except TimeoutError:
                log.warning("dataset writer: flush took over %.1fs, spooling the rest", timeout_s)
                await cancel_and_wait([task])
            except Exception:
                log.exception("dataset writer task failed; spooling what is left")
        self._running = False
        rest = self._take_all()
        if rest:
            self._spool_now(rest)
        self._update_gauges()
        await asyncio.to_thread(self._spool.close)
        if self._sink is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._sink.client.aclose()
            self._sink = None

    # -- request path ---------------------------------------------------------------------

    def submit(self, record: dict[str, Any]) -> None:
        """Queue a record; never waits. On a full queue (or after ``stop``) the record is
        appended to the spool here, behind everything still queued, with one fsync."""
        if not self._settings.enabled:
            return
        if self._running and not self._stopping:
            try:
                self._queue.put_nowait(record)
                return
            except asyncio.QueueFull:
                pass
        self._spool_now([*self._take_all(), record])
        self._update_gauges()

    def stats(self) -> dict[str, Any]:
        """Counters for ``/v1/router/state`` (``dataset`` section)."""
        if not self._settings.enabled:
            sink = "disabled"
        else:
            sink = "redis" if self._redis_factory is not None else "spool"
        return {
            "enabled": self._settings.enabled,
            "sink": sink,
            "stream": self._settings.stream_key if sink == "redis" else None,
            "redis_healthy": self._healthy if sink == "redis" else None,
            "queue_depth": self._queue.qsize(),
            "queue_size": self._settings.queue_size,
            "spool_depth": self._spool.pending,
            "spool_bytes": self._spool.pending_bytes,
            "spool_max_bytes": self._settings.spool_max_bytes,
            "records": {"redis": self._counts["redis"], "spool": self._counts["spool"]},
            "dropped": self._counts["dropped"],
            "invalid": self._counts["invalid"],
            "duplicates_skipped": self._counts["duplicate"],
            "export_lag": self._lag,
        }

    # -- the background task ---------------------------------------------------------------

    async def _run(self) -> None:
        if self._sink is not None:
            await self._probe()  # so the first records go straight to Redis when it is up
        while True:
            batch = await self._take_batch()
            if batch:
                await self._deliver(await asyncio.to_thread(self._encode, batch))
            if self._stopping:
                if self._queue.empty():
                    return  # a spool left now is drained by the next start
                continue
            if self._sink is not None and self._spool.pending and self._due():
                await self._drain()
            elif self._sink is not None and not self._healthy and self._due():
                await self._probe()
            await self._refresh_lag()
            self._update_gauges()

    async def _take_batch(self) -> list[dict[str, Any]]:
        wait = 0.0 if self._stopping else IDLE_WAKE_S
        batch: list[dict[str, Any]] = []
        if self._queue.empty():
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), wait or 0.001))
            except TimeoutError:
                return batch
        while len(batch) < self._settings.batch_size:
            try:
                batch.append(self._queue.get_nowait())
            except asyncio.QueueEmpty:
                break
        return batch

    async def _deliver(self, encoded: Encoded) -> None:
        if not encoded:
            return
        if self._sink is not None and self._healthy and not self._spool.pending:
            try:
                added = await asyncio.wait_for(self._sink.write(encoded), WRITE_TIMEOUT_S)
            except SINK_ERRORS as exc:
                self._mark_down(exc)
            else:
                self._wrote_redis(added, len(encoded))
                return
        kept = await asyncio.to_thread(self._spool.append, [line for _, line in encoded])
        self._wrote_spool(kept)

    async def _drain(self) -> None:
        """Move the spool into Redis, oldest first, committing after each chunk."""
        assert self._sink is not None
        if not self._healthy and not await self._probe():
            return
        drained = 0
        while self._spool.pending:
            lines, end = await asyncio.to_thread(self._spool.read, self._settings.batch_size)
            if not lines:
                break
            encoded = _ids(lines)
            try:
                added = await asyncio.wait_for(self._sink.write(encoded), WRITE_TIMEOUT_S)
            except SINK_ERRORS as exc:
                self._mark_down(exc)
                return
            await asyncio.to_thread(self._spool.commit, end, len(lines))
            self._wrote_redis(added, len(encoded))
            drained += len(lines)
            self._update_gauges()
            # a long drain must not let the queue overflow: what waits there goes behind
            if self._queue.qsize() * 2 > self._settings.queue_size:
                encoded = await asyncio.to_thread(self._encode, self._take_all())
                self._wrote_spool(
                    await asyncio.to_thread(self._spool.append, [line for _, line in encoded])
                )
        if drained:
            log.info("dataset spool drained into Redis: %d records", drained)

    async def _probe(self) -> bool:
        assert self._sink is not None
        try:
            await asyncio.wait_for(self._sink.ping(), WRITE_TIMEOUT_S)
        except SINK_ERRORS as exc:
            self._mark_down(exc)
            return False
        if self._failures:
            log.info("dataset sink: Redis reachable again")
        self._healthy = True
        self._failures = 0
        return True

    async def _refresh_lag(self) -> None:
        now = time.monotonic()
        if self._sink is None or not self._healthy or now < self._next_lag:
            return
        self._next_lag = now + LAG_REFRESH_S
        with contextlib.suppress(*SINK_ERRORS):
            lag = await asyncio.wait_for(
                self._sink.group_lag(self._settings.export_group), WRITE_TIMEOUT_S
            )
            self._lag = lag
            if lag is not None:
                self._metrics.dataset_export_lag.set(lag)

    # -- helpers ----------------------------------------------------------------------------

    def _due(self) -> bool:
        return self._healthy or time.monotonic() >= self._next_try

    def _mark_down(self, exc: BaseException) -> None:
        if self._healthy or self._failures == 0:
            log.warning(
                "dataset sink: Redis unavailable (%s); spooling records to %s until it is back",
                type(exc).__name__,
                self._spool.path,
            )
        self._healthy = False
        self._failures += 1
        delay = min(self._settings.reconnect_max_s, BACKOFF_BASE_S * 2 ** min(self._failures, 16))
        self._next_try = time.monotonic() + delay * random.uniform(0.5, 1.0)

    def _encode(self, raws: list[dict[str, Any]]) -> Encoded:
        """Validate + redact; a malformed record is logged (without content) and skipped."""
        out: Encoded = []
        for raw in raws:
            try:
                record = DatasetRecord.model_validate(self._redactor.record(raw))
            except ValidationError as exc:
                self._counts["invalid"] += 1
                fields = sorted({".".join(map(str, e["loc"])) for e in exc.errors()})
                log.error("dataset record rejected (schema v1): bad fields %s", fields)
                continue
            out.append((record.id, encode(record)))
        return out

    def _spool_now(self, raws: list[dict[str, Any]]) -> None:
        self._spool.open()  # no-op while running; reopens after stop()
        kept = self._spool.append([line for _, line in self._encode(raws)])
        self._wrote_spool(kept)
        if not self._running:
            self._spool.close()

    def _take_all(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        while True:
            try:
                items.append(self._queue.get_nowait())
            except asyncio.QueueEmpty:
                return items

    def _wrote_redis(self, added: int, sent: int) -> None:
        self._counts["redis"] += added
        self._counts["duplicate"] += sent - added
        self._metrics.dataset_records.labels(sink="redis").inc(added)

    def _wrote_spool(self, kept: int) -> None:
        self._counts["spool"] += kept
        self._metrics.dataset_records.labels(sink="spool").inc(kept)

    def _dropped(self, count: int) -> None:
        self._counts["dropped"] += count
        self._metrics.dataset_dropped.inc(count)

    def _update_gauges(self) -> None:
        self._metrics.dataset_spool_depth.set(self._spool.pending)
        self._metrics.dataset_queue_depth.set(self._queue.qsize())


def _ids(lines: list[bytes]) -> Encoded:
    out: Encoded = []
    for line in lines:
        try:
            record_id = orjson.loads(line)["id"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            log.error("dataset spool: skipping a damaged line (%d bytes)", len(line))
            continue
        out.append((str(record_id), line))
    return out
