"""DatasetWriter against a real redis-server that the tests stop and restart."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from gateway.dataset.sink import StreamSink
from gateway.dataset.spool import Spool, iter_lines, spool_dir
from gateway.dataset.writer import DatasetWriter, redis_client
from gateway.metrics import GatewayMetrics
from tests.support.factories import CLIENT_KEY, CLOUD_KEY, make_record, make_settings
from tests.support.redis_server import RedisServer, free_port

KEY = "netgpt:pairs"


async def wait_until(cond: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


def stream_ids(server: RedisServer) -> list[str]:
    client = server.client()
    try:
        return [orjson.loads(f[b"record"])["id"] for _, f in client.xrange(KEY)]
    finally:
        client.close()


def xlen(server: RedisServer) -> int:
    client = server.client()
    try:
        return int(client.xlen(KEY))
    finally:
        client.close()


def ids(start: int, stop: int) -> list[str]:
    return [f"req-{i:06d}:routed" for i in range(start, stop)]


async def submit_range(writer: DatasetWriter, start: int, stop: int) -> None:
    for i in range(start, stop):
        writer.submit(make_record(i))
        if i % 25 == 24:
            await asyncio.sleep(0.005)  # a live gateway interleaves requests and writes


async def test_records_reach_the_stream_in_order(tmp_path: Path, redis_server, metrics) -> None:
    writer = DatasetWriter(make_settings(tmp_path, redis_server.url), metrics)
    await writer.start()
    await submit_range(writer, 0, 50)
    await wait_until(lambda: xlen(redis_server) == 50)
    await writer.stop()
    assert stream_ids(redis_server) == ids(0, 50)
    assert metrics.registry.get_sample_value("netgpt_dataset_records_total", {"sink": "redis"}) == 50
    assert metrics.registry.get_sample_value("netgpt_dataset_records_total", {"sink": "spool"}) in (None, 0)
    stats = writer.stats()
    assert stats["sink"] == "redis" and stats["records"]["redis"] == 50 and stats["spool_depth"] == 0


async def test_outage_1000_records_exactly_once_in_order(tmp_path: Path, redis_server, metrics) -> None:
    """Redis stops after 300 records and comes back (same AOF dir) after 700."""
    settings = make_settings(tmp_path / "data", redis_server.url, reconnect_max_s=0.2)
    writer = DatasetWriter(settings, metrics)
    await writer.start()
    await submit_range(writer, 0, 300)
    await wait_until(lambda: xlen(redis_server) == 300)

    redis_server.stop()
    await submit_range(writer, 300, 700)
    await wait_until(lambda: writer.stats()["spool_depth"] == 400 and writer.stats()["queue_depth"] == 0)
    assert writer.stats()["redis_healthy"] is False

    redis_server.start()
    await submit_range(writer, 700, 1000)
    await wait_until(
        lambda: xlen(redis_server) >= 1000 and writer.stats()["spool_depth"] == 0
        and writer.stats()["queue_depth"] == 0
    )
    await writer.stop()

    assert stream_ids(redis_server) == ids(0, 1000)  # exactly once, in order
    sample = metrics.registry.get_sample_value
    assert sample("netgpt_dataset_records_total", {"sink": "spool"}) >= 400
    assert sample("netgpt_dataset_records_total", {"sink": "redis"}) == 1000
    assert sample("netgpt_dataset_spool_depth") == 0
    assert sample("netgpt_dataset_dropped_total") == 0
    assert Spool(spool_dir(settings.data_dir), 1 << 20).path.stat().st_size == 0  # truncated


async def test_replayed_records_are_not_duplicated(tmp_path: Path, redis_server, metrics) -> None:
    """A batch that reached Redis and was also spooled (reply lost) is skipped on replay."""
    settings = make_settings(tmp_path, redis_server.url)
    lines = [(f"req-{i:06d}:routed", orjson.dumps(make_record(i))) for i in range(20)]
    sink = StreamSink(redis_client(redis_server.url), KEY, maxlen=1000, ttl_s=3600)
    assert await sink.write(lines[:10]) == 10
    assert await sink.write(lines[:10]) == 0  # same ids again: nothing added
    await sink.client.aclose()
    spool = Spool(spool_dir(settings.data_dir), 1 << 20)
    spool.open()
    spool.append([line for _, line in lines])  # all 20, the first 10 already in Redis
    spool.close()

    writer = DatasetWriter(settings, metrics)
    await writer.start()
    await wait_until(lambda: writer.stats()["spool_depth"] == 0)
    await writer.stop()
    assert stream_ids(redis_server) == ids(0, 20)
    assert writer.stats()["duplicates_skipped"] == 10


async def test_full_queue_spools_in_order_then_drains(tmp_path: Path, redis_server, metrics) -> None:
    settings = make_settings(tmp_path, redis_server.url, queue_size=8, batch_size=4)
    writer = DatasetWriter(settings, metrics)
    await writer.start()
    for i in range(60):  # no await: the writer never runs, the queue overflows
        writer.submit(make_record(i))
    assert writer.stats()["spool_depth"] > 40
    await wait_until(lambda: xlen(redis_server) == 60 and writer.stats()["spool_depth"] == 0)
    await writer.stop()
    assert stream_ids(redis_server) == ids(0, 60)


async def test_stop_with_redis_down_spools_and_next_start_drains(tmp_path: Path, metrics) -> None:
    server = RedisServer(tmp_path / "redis")  # not started: Redis is down
    settings = make_settings(tmp_path / "data", server.url, reconnect_max_s=0.1)
    writer = DatasetWriter(settings, metrics)
    await writer.start()
    for i in range(50):
        writer.submit(make_record(i))
    await writer.stop()  # graceful shutdown: nothing accepted may be lost
    lines = list(iter_lines(spool_dir(settings.data_dir)))
    assert [orjson.loads(line)["id"] for _, line in lines] == ids(0, 50)

    server.start()
    try:
        second = DatasetWriter(settings, GatewayMetrics())
        await second.start()
        await wait_until(lambda: xlen(server) == 50)
        await second.stop()
        assert stream_ids(server) == ids(0, 50)
        assert second.stats()["spool_depth"] == 0
    finally:
        server.stop()


async def test_without_redis_the_spool_is_the_sink(tmp_path: Path, metrics) -> None:
    writer = DatasetWriter(make_settings(tmp_path, None), metrics)
    await writer.start()
    await submit_range(writer, 0, 30)
    await wait_until(lambda: writer.stats()["spool_depth"] == 30)
    await writer.stop()
    assert writer.stats()["sink"] == "spool"
    lines = list(iter_lines(spool_dir(tmp_path)))
    assert [orjson.loads(line)["id"] for _, line in lines] == ids(0, 30)
    assert metrics.registry.get_sample_value("netgpt_dataset_records_total", {"sink": "spool"}) == 30


async def test_spool_cap_drops_counts_and_logs(tmp_path: Path, metrics, caplog) -> None:
    size = len(orjson.dumps(make_record(0)))
    settings = make_settings(tmp_path, None, spool_max_bytes=max(1024, 3 * size + 10))
    writer = DatasetWriter(settings, metrics)
    await writer.start()
    with caplog.at_level(logging.ERROR):
        for i in range(10):
            writer.submit(make_record(i))
        await writer.stop()
    kept = writer.stats()["records"]["spool"]
    dropped = metrics.registry.get_sample_value("netgpt_dataset_dropped_total")
    assert 0 < kept < 10 and kept + dropped == 10
    assert writer.stats()["dropped"] == dropped
    assert sum("spool is full" in r.getMessage() for r in caplog.records) == 1


async def test_invalid_record_is_rejected_without_content(tmp_path: Path, redis_server, metrics, caplog) -> None:
    writer = DatasetWriter(make_settings(tmp_path, redis_server.url), metrics)
    await writer.start()
    with caplog.at_level(logging.ERROR):
        writer.submit({**make_record(1), "surprise": "secret-ish value"})
        writer.submit(make_record(2))
        await wait_until(lambda: xlen(redis_server) == 1)
    await writer.stop()
    assert stream_ids(redis_server) == ["req-000002:routed"]
    assert writer.stats()["invalid"] == 1
    assert "surprise" in caplog.text and "secret-ish value" not in caplog.text


async def test_stored_record_is_redacted_and_versioned(tmp_path: Path, redis_server, metrics) -> None:
    text = f"mail bob@example.com or call +1 (415) 555-0100, key {CLOUD_KEY}, Bearer {CLIENT_KEY}"
    record = make_record(3, text=text)
    record["request"]["x_note"] = f"client pasted {CLIENT_KEY}"
    writer = DatasetWriter(make_settings(tmp_path, redis_server.url), metrics)
    await writer.start()
    writer.submit(record)
    await wait_until(lambda: xlen(redis_server) == 1)
    await writer.stop()
    client = redis_server.client()
    raw = client.xrange(KEY)[0][1][b"record"]
    client.close()
    stored = orjson.loads(raw)
    assert stored["schema_version"] == 3
    for secret in (b"bob@example.com", b"555-0100", CLOUD_KEY.encode(), CLIENT_KEY.encode()):
        assert secret not in raw
    assert stored["request"]["messages"][1]["content"].startswith("mail [REDACTED] or call [REDACTED]")
    assert stored["request"]["x_note"] == "client pasted [REDACTED_SECRET]"


async def test_second_writer_on_the_same_spool_is_refused(tmp_path: Path, metrics) -> None:
    from gateway.dataset.spool import SpoolLocked

    first = DatasetWriter(make_settings(tmp_path, None), metrics)
    await first.start()
    with pytest.raises(SpoolLocked, match="NETGPT_DATA_DIR"):
        await DatasetWriter(make_settings(tmp_path, None), GatewayMetrics()).start()
    await first.stop()


async def test_unreachable_redis_at_start_goes_to_spool(tmp_path: Path, metrics) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    writer = DatasetWriter(make_settings(tmp_path, url), metrics)
    await writer.start()
    await submit_range(writer, 0, 10)
    await wait_until(lambda: writer.stats()["spool_depth"] == 10)
    assert writer.stats()["redis_healthy"] is False
    await writer.stop()
