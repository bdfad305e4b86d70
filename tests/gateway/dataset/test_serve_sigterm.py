"""SIGTERM to a real `netgpt serve` process in the middle of a run loses no record it had
accepted: each answered request's record is in Redis or in the spool, and the next start drains
the spool into Redis. Under load (tests/faults/shutdown.py): readiness fails first, the drain
window still serves, then new connections are refused, requests in flight finish within the
grace period (or get a 503 envelope when they outlive it), and nothing is lost."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from gateway.dataset.readers import spool_records
from tests.conftest import chat_body
from tests.faults.shutdown import run_under_load, start_gateway, stream_ids
from tests.support.redis_server import RedisServer, free_port

pytestmark = pytest.mark.integration
KEY = "netgpt:pairs"


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



# ---------------------------------------------------------------- graceful shutdown under load
@pytest.mark.slow
def test_sigterm_under_load_fails_readiness_first_finishes_in_flight_and_loses_nothing(
    tmp_path: Path, make_settings, edge_fake, cloud_fake, capsys
) -> None:
    settings = make_settings()  # only for the fakes' URLs
    run = run_under_load(str(settings.edge.base_url), str(settings.cloud.base_url), tmp_path,
                         drain_s=1.5, grace_s=10, cloud_delay_s=0.4)
    with capsys.disabled():
        print("\nSIGTERM under load: " + run.summary())  # noqa: T201
    assert run.exit_code in (0, -signal.SIGTERM)
    assert not run.lost, f"lost: {run.lost[:5]}"
    odd = [r for r in run.results if r[3] not in ("200", "refused", "503") and not r[3].startswith("no answer")]
    assert not odd, odd[:5]
    assert run.in_flight and all(r[3] == "200" for r in run.in_flight), "every request in flight got its answer"
    assert not run.outcome("503"), "nothing outlived the grace period"
    # readiness failed first: 200 before the signal, 503 after it and before any refusal
    assert any(status == 200 for at, status in run.ready if at < run.term)
    assert run.first_503_s is not None and run.first_refused_s is not None
    assert run.first_503_s < run.first_refused_s
    # the drain window still served what arrived; new connections were refused only after it
    assert run.served_after_term, "answers to requests sent after SIGTERM"
    assert run.first_refused_s >= 1.5 - 0.2
    assert run.exit_s < 1.5 + 10
    assert len(run.outcome("answered")) > 20


@pytest.mark.slow
def test_sigterm_grace_deadline_answers_503_to_requests_that_outlive_it(
    tmp_path: Path, make_settings, edge_fake, cloud_fake
) -> None:
    settings = make_settings()
    run = run_under_load(str(settings.edge.base_url), str(settings.cloud.base_url), tmp_path,
                         drain_s=0, grace_s=1, cloud_delay_s=8.0, lanes=3, min_answered=0)
    assert run.exit_code in (0, -signal.SIGTERM)
    # the 8 s cloud calls outlive the 1 s grace: cancelled, the process does not wait for them,
    # and their clients get a 503 envelope (shutting_down) rather than a bare 500 or nothing
    assert run.exit_s < 1 + 4
    assert len(run.in_flight) >= 3 and {r[3] for r in run.in_flight} == {"503"}, run.in_flight
    assert not run.lost, "a cancelled request leaves no record"
