"""A process that runs a DatasetWriter as the gateway does, until SIGTERM (for test_sigterm).

It submits records as fast as a busy gateway would, flushes on SIGTERM through
``DatasetWriter.stop()`` (what the app's lifespan shutdown does), then prints how many records
it had accepted as ``{"accepted": N}``.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

import orjson

from gateway.dataset.writer import DatasetWriter
from gateway.metrics import GatewayMetrics
from tests.support.factories import make_record, make_settings


async def run(redis_url: str, data_dir: Path) -> int:
    writer = DatasetWriter(make_settings(data_dir, redis_url, reconnect_max_s=0.1), GatewayMetrics())
    await writer.start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    accepted = 0
    while not stop.is_set():
        for _ in range(40):
            writer.submit(make_record(accepted))
            accepted += 1
        if accepted == 40:
            sys.stdout.write("ready\n")
            sys.stdout.flush()
        await asyncio.sleep(0.002)
    await writer.stop()
    sys.stdout.write(orjson.dumps({"accepted": accepted}).decode() + "\n")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    args = parser.parse_args()
    sys.exit(asyncio.run(run(args.redis_url, args.data_dir)))
