"""Hot-path pieces the load benchmark's profiles led to: the GC freeze after startup and the
chat fast lane that ``netgpt serve`` puts in front of the app, request ids, and the per-worker
dataset spool that ``netgpt serve --workers N`` needs."""

from __future__ import annotations

import contextlib
import gc
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from starlette.applications import Starlette
from starlette.routing import Router

from gateway.api.chat import ChatFastLane
from gateway.app import create_app
from gateway.server.asgi import FreezeAfterStartup
from gateway.server.workers import claim_slot, worker_settings
from tests.conftest import CLIENT_KEY, chat_body


async def _lifespan(app: Any) -> list[dict[str, Any]]:
    incoming = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[dict[str, Any]] = []
    frozen_at_complete: list[int] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0)

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "lifespan.startup.complete":
            frozen_at_complete.append(gc.get_freeze_count())
        sent.append(message)

    await app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive, send)
    return [*sent, {"frozen": frozen_at_complete}]


async def test_startup_complete_freezes_what_exists_then() -> None:
    inner = Starlette()
    inner.state.marker = "kept"
    app = FreezeAfterStartup(inner)
    gc.unfreeze()
    try:
        messages = await _lifespan(app)
        types = [m.get("type") for m in messages[:-1]]
        assert types == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
        # frozen before the server is told startup is complete, i.e. before any request
        assert messages[-1]["frozen"][0] > 1000
        assert app.state.marker == "kept"  # attributes of the wrapped app stay reachable
    finally:
        gc.unfreeze()


# -- the chat fast lane: same answers as the app's own route, without its middleware ----------


@pytest.fixture
async def both_apps(make_settings: Any) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient, Any]]:
    """Two clients on ONE app (one lifespan): straight, and through ChatFastLane."""
    app = create_app(make_settings(api_keys=[CLIENT_KEY]))
    lane = ChatFastLane(app)
    async with app.router.lifespan_context(app):
        plain = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw")
        fast = httpx.AsyncClient(transport=httpx.ASGITransport(app=lane), base_url="http://gw")
        async with plain, fast:
            yield plain, fast, app


AUTH = {"authorization": f"Bearer {CLIENT_KEY}"}
ROUTE_HEADERS = ("x-netgpt-route", "x-netgpt-reason", "content-type")


async def test_fast_lane_answers_the_edge_path_like_the_app(both_apps: Any, edge_fake: Any, cloud_fake: Any) -> None:
    plain, fast, app = both_apps
    before = app.state.metrics.registry.get_sample_value(
        "netgpt_requests_total", {"route": "edge", "reason": "score_above_threshold", "status": "200"}
    ) or 0.0
    a = await plain.post("/v1/chat/completions", json=chat_body(), headers=AUTH)
    b = await fast.post("/v1/chat/completions", json=chat_body(), headers=AUTH)
    assert a.status_code == b.status_code == 200
    for name in ROUTE_HEADERS:
        assert a.headers[name] == b.headers[name]
    assert a.json()["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == \
        b.json()["choices"][0]["message"]["tool_calls"][0]["function"]["name"]
    after = app.state.metrics.registry.get_sample_value(
        "netgpt_requests_total", {"route": "edge", "reason": "score_above_threshold", "status": "200"}
    )
    assert after == before + 2  # the lane reached the same service and metrics


@pytest.mark.parametrize(
    ("content", "headers", "status"),
    [(b"{not json", AUTH, 400), (orjson.dumps(chat_body(n=3)), AUTH, 400), (orjson.dumps(chat_body()), {}, 401)],
)
async def test_fast_lane_errors_are_the_apps_envelopes(both_apps: Any, content: bytes, headers: dict[str, str], status: int) -> None:
    plain, fast, _ = both_apps
    kw = {"content": content, "headers": headers | {"content-type": "application/json"}}
    a = await plain.post("/v1/chat/completions", **kw)
    b = await fast.post("/v1/chat/completions", **kw)
    assert a.status_code == b.status_code == status
    assert a.json() == b.json()
    assert set(b.json()["error"]) >= {"message", "type", "param", "code"}


async def test_fast_lane_turns_an_unexpected_error_into_the_500_envelope(both_apps: Any, monkeypatch: Any) -> None:
    plain, fast, app = both_apps

    async def broken(*_args: Any) -> None:
        raise RuntimeError("secret-ish detail that must not leak")

    monkeypatch.setattr(app.state.runtime.service, "handle", broken)
    b = await fast.post("/v1/chat/completions", json=chat_body(), headers=AUTH)
    assert b.status_code == 500
    assert "secret-ish" not in b.text and "Traceback" not in b.text
    assert b.json()["error"]["message"].startswith("internal error")


async def test_fast_lane_passes_other_routes_and_methods_through(both_apps: Any) -> None:
    plain, fast, _ = both_apps
    for method, path in (("GET", "/v1/models"), ("GET", "/v1/chat/completions"), ("GET", "/healthz")):
        a = await plain.request(method, path, headers=AUTH)
        b = await fast.request(method, path, headers=AUTH)
        assert a.status_code == b.status_code
        assert a.json() == b.json()


def _responses_body(**extra: Any) -> dict[str, Any]:
    body = chat_body()
    tools = [{"type": "function", **tool["function"]} for tool in body["tools"]]
    return {"model": body["model"], "input": body["messages"][-1]["content"], "tools": tools, **extra}


async def test_fast_lane_answers_responses_like_the_app_and_the_stored_one_is_found(
    both_apps: Any, edge_fake: Any, cloud_fake: Any, monkeypatch: Any
) -> None:
    plain, fast, app = both_apps
    seen: list[str] = []
    inner = Router.__call__

    async def spy(self: Router, scope: Any, receive: Any, send: Any) -> None:  # behind the app's middleware
        seen.append(f"{scope.get('method')} {scope.get('path')}")
        await inner(self, scope, receive, send)

    monkeypatch.setattr(Router, "__call__", spy)
    a = await plain.post("/v1/responses", json=_responses_body(), headers=AUTH)
    b = await fast.post("/v1/responses", json=_responses_body(), headers=AUTH)
    assert a.status_code == b.status_code == 200
    for name in ROUTE_HEADERS:
        assert a.headers[name] == b.headers[name]
    assert [i["type"] for i in a.json()["output"]] == [i["type"] for i in b.json()["output"]]
    assert a.json()["id"] != b.json()["id"]
    # stored by the lane's request, found through the app (GET is not on the lane)
    got = await fast.get(f"/v1/responses/{b.json()['id']}", headers=AUTH)
    assert got.status_code == 200 and got.json()["id"] == b.json()["id"]
    follow = await fast.post("/v1/responses", json=_responses_body(previous_response_id=b.json()["id"]), headers=AUTH)
    assert follow.status_code == 200
    assert seen.count("POST /v1/responses") == 1  # only the plain client's went through the app
    assert f"GET /v1/responses/{b.json()['id']}" in seen


@pytest.mark.parametrize(
    ("content", "headers", "status"),
    [(b"{not json", AUTH, 400), (orjson.dumps({"model": "auto"}), AUTH, 400), (orjson.dumps({"input": "hi"}), {}, 401)],
)
async def test_fast_lane_responses_errors_are_the_apps_envelopes(
    both_apps: Any, content: bytes, headers: dict[str, str], status: int
) -> None:
    plain, fast, _ = both_apps
    kw = {"content": content, "headers": headers | {"content-type": "application/json"}}
    a = await plain.post("/v1/responses", **kw)
    b = await fast.post("/v1/responses", **kw)
    assert a.status_code == b.status_code == status
    assert a.json() == b.json()


def test_generated_request_ids_are_32_hex_and_unique() -> None:
    from gateway.api.chat import _RequestIds

    ids = _RequestIds()
    drawn = [ids.next() for _ in range(10_000)]
    assert len(set(drawn)) == len(drawn)
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in drawn)
    other = _RequestIds()  # another process draws another random half
    assert other.next()[:16] != drawn[0][:16]


# -- netgpt serve --workers N: one dataset spool per worker -----------------------------------


def test_workers_claim_distinct_slots_and_a_dead_workers_slot_is_reused(tmp_path: Path) -> None:
    first, fd0 = claim_slot(tmp_path, 2)
    second, fd1 = claim_slot(tmp_path, 2)
    assert (first, second) == (0, 1)
    os.close(fd0)  # the worker in slot 0 died: its lock went with it
    again, fd2 = claim_slot(tmp_path, 2)
    assert again == 0
    os.close(fd1)
    os.close(fd2)


def test_a_workers_settings_move_the_spool_but_not_the_calibration(make_settings: Any) -> None:
    settings = make_settings()
    assert worker_settings(settings, 0) is settings
    other = worker_settings(settings, 1)
    assert other.data_dir == settings.data_dir / "workers" / "1"
    assert other.calibration_file == settings.calibration_file
    assert other.edge == settings.edge and other.cloud == settings.cloud


def test_serve_with_two_workers_starts_both_and_answers(tmp_path: Path, edge_server: Any, cloud_server: Any) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("NETGPT_")}
    env.update(
        NETGPT_EDGE_BASE_URL=edge_server[1].url + "/v1", NETGPT_EDGE_MODEL="edge-small",
        NETGPT_CLOUD_BASE_URL=cloud_server[1].url + "/v1", NETGPT_CLOUD_MODEL="cloud-large",
        NETGPT_NETWORK_PROBES_ENABLED="false", NETGPT_DATA_DIR=str(tmp_path), NETGPT_LOG_LEVEL="warning",
    )
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "serve", "--port", str(port), "--workers", "2"],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()[-2000:]
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            assert time.monotonic() < deadline, "netgpt serve --workers 2 did not come up"
            time.sleep(0.2)
        resp = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=chat_body(), timeout=10)
        assert resp.status_code == 200 and resp.headers["x-netgpt-route"] == "edge"
        # both workers got through startup, each with a spool of its own
        deadline = time.monotonic() + 20
        while not ((tmp_path / "dataset").is_dir() and (tmp_path / "workers" / "1" / "dataset").is_dir()):
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "the second worker has no spool of its own"
            time.sleep(0.2)
        assert "failed to start" not in (tmp_path / "serve.log").read_text()
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()
