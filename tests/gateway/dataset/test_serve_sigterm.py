"""SIGTERM to a real `netgpt serve` process in the middle of a run loses no record it had
accepted: each answered request's record is in Redis or in the spool, and the next start drains
the spool into Redis."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import orjson
import pytest

from gateway.calibrate import spool_records
from tests.conftest import chat_body
from tests.gateway.dataset.redis_server import RedisServer, free_port

pytestmark = pytest.mark.integration
KEY = "netgpt:pairs"


def start_gateway(port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "serve", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "exited"
        assert time.monotonic() < deadline, "the gateway did not come up"
        time.sleep(0.1)


def stream_ids(redis_server: RedisServer) -> list[str]:
    client = redis_server.client()
    try:
        return [orjson.loads(f[b"record"])["request_id"] for _, f in client.xrange(KEY)]
    finally:
        client.close()


def test_sigterm_mid_run_loses_no_accepted_record(
    tmp_path: Path, make_settings, edge_fake, cloud_fake
) -> None:
    settings = make_settings()  # only for the fakes' URLs
    redis_server = RedisServer(tmp_path / "redis")  # not started: Redis is down during the run
    data_dir = tmp_path / "var"
    env = dict(os.environ)
    env.update(
        NETGPT_EDGE_BASE_URL=str(settings.edge.base_url), NETGPT_EDGE_MODEL="edge-small",
        NETGPT_CLOUD_BASE_URL=str(settings.cloud.base_url), NETGPT_CLOUD_MODEL="cloud-large",
        NETGPT_CLOUD_API_KEY="sk-test-sigterm-key-0123456789", NETGPT_NETWORK_PROBES_ENABLED="false",
        NETGPT_REDIS_URL=redis_server.url, NETGPT_DATA_DIR=str(data_dir),
        NETGPT_DATASET_RECONNECT_MAX_S="0.2", NETGPT_LOG_LEVEL="warning",
    )
    port = free_port()
    gateway = start_gateway(port, env)
    answered: list[str] = []
    stop = threading.Event()

    def lane(k: int) -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
            i = 0
            while not stop.is_set():
                rid = f"t{k}-{i:05d}"
                i += 1
                try:
                    resp = http.post("/v1/chat/completions", json=chat_body(model="cloud"),
                                     headers={"x-request-id": rid})
                except httpx.HTTPError:
                    return  # the server went away mid-request: not accepted
                if resp.status_code == 200:
                    answered.append(rid)

    lanes = [threading.Thread(target=lane, args=(k,)) for k in range(4)]
    for t in lanes:
        t.start()
    deadline = time.monotonic() + 20
    while len(answered) < 150 and time.monotonic() < deadline:
        time.sleep(0.02)
    gateway.send_signal(signal.SIGTERM)  # in the middle of the run
    # uvicorn shuts down gracefully (lifespan: the dataset writer flushes), then re-raises
    # the signal, so the exit status is that of SIGTERM
    assert gateway.wait(20) in (0, -signal.SIGTERM)
    stop.set()
    for t in lanes:
        t.join(10)
    assert len(answered) >= 150

    spooled = {r["request_id"] for r in spool_records(data_dir)}
    assert set(answered) <= spooled, f"lost: {sorted(set(answered) - spooled)[:5]}"

    redis_server.start()  # Redis is back; the next start drains the spool
    try:
        gateway = start_gateway(port, env)
        deadline = time.monotonic() + 20
        while not set(answered) <= set(stream_ids(redis_server)):
            assert time.monotonic() < deadline, "the spool was not drained into Redis"
            time.sleep(0.1)
        ids = stream_ids(redis_server)
        assert len(ids) == len(set(ids)), "no record twice"
        gateway.send_signal(signal.SIGTERM)
        assert gateway.wait(20) in (0, -signal.SIGTERM)
    finally:
        if gateway.poll() is None:
            gateway.kill()
        redis_server.stop()
