"""Tenancy through the gateway app: hashed keys with limits, 429 with Retry-After and OpenAI's
envelope, keys revoked without a restart, admin endpoints, CORS, the 405 Allow header."""

from __future__ import annotations

import asyncio
import time

import openai
import pytest

from gateway.tenancy.keys import KeyEntry, hash_key, write_entries
from gateway.tenancy.limits import KeyLimits
from tests.conftest import chat_body

pytestmark = pytest.mark.integration

ERROR_KEYS = {"message", "type", "param", "code"}


def key_file(tmp_path, *entries):
    path = tmp_path / "keys.toml"
    write_entries(path, [KeyEntry(name, hash_key(key), limits) for name, key, limits in entries])
    return path


def auth(key):
    return {"authorization": f"Bearer {key}"}


async def chat(gw, key, **extra):
    return await gw.http.post("/v1/chat/completions", json=chat_body(**extra), headers=auth(key))


async def test_requests_per_minute_gives_429_with_retry_after(app_client_factory, make_settings, tmp_path):
    path = key_file(tmp_path, ("team-a", "key-a", KeyLimits(rpm=2)), ("team-b", "key-b", KeyLimits()))
    gw = await app_client_factory(make_settings(tenancy={"api_keys_file": path}))
    assert [(await chat(gw, "key-a")).status_code for _ in range(2)] == [200, 200]
    refused = await chat(gw, "key-a")
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 30
    error = refused.json()["error"]
    assert set(error) == ERROR_KEYS
    assert error["type"] == "rate_limit_error" and error["code"] == "rate_limit_exceeded"
    assert "team-a" in error["message"] and "key-a" not in refused.text
    assert (await chat(gw, "key-b")).status_code == 200, "another key is not affected"
    assert gw.sample("netgpt_rate_limited_total", {"key": "team-a", "limit": "requests"}) == 1
    assert gw.sample("netgpt_requests_total", {"route": "none", "reason": "rate_limited", "status": "429"}) == 1
    assert gw.sample("netgpt_api_keys") == 2


async def test_tokens_per_minute_counts_the_answers_tokens(app_client_factory, make_settings, tmp_path):
    path = key_file(tmp_path, ("t", "key-t", KeyLimits(tpm=40)))
    gw = await app_client_factory(make_settings(tenancy={"api_keys_file": path}))
    first = await chat(gw, "key-t")
    assert first.status_code == 200 and first.json()["usage"]["total_tokens"] >= 40
    second = await chat(gw, "key-t")
    assert second.status_code == 429 and second.json()["error"]["code"] == "rate_limit_exceeded"
    assert "tokens per minute" in second.json()["error"]["message"]


async def test_cloud_budget_gives_insufficient_quota(app_client_factory, make_settings, tmp_path):
    path = key_file(tmp_path, ("b", "key-b", KeyLimits(budget_usd=1e-9, budget_period_s=3600)))
    gw = await app_client_factory(make_settings(tenancy={"api_keys_file": path}))
    edge = await chat(gw, "key-b")
    assert edge.headers["x-netgpt-route"] == "edge"
    assert (await chat(gw, "key-b")).status_code == 200, "edge answers cost no cloud budget"
    cloud = await chat(gw, "key-b", model="cloud")
    assert cloud.status_code == 200 and gw.sample("netgpt_cloud_cost_usd_total") > 1e-9
    refused = await chat(gw, "key-b")
    assert refused.status_code == 429
    assert refused.json()["error"]["type"] == "insufficient_quota"
    assert refused.json()["error"]["code"] == "insufficient_quota"
    left = 3600 - time.time() % 3600
    assert abs(int(refused.headers["retry-after"]) - left) <= 2


async def test_sdk_sees_a_rate_limit_error(app_client_factory, make_settings, tmp_path):
    path = key_file(tmp_path, ("s", "key-s", KeyLimits(rpm=1)))
    gw = await app_client_factory(make_settings(tenancy={"api_keys_file": path}))
    client = openai.AsyncOpenAI(base_url="http://gateway/v1", api_key="key-s", max_retries=0, http_client=gw.http)
    body = chat_body()
    await client.chat.completions.create(model="auto", messages=body["messages"], tools=body["tools"])
    with pytest.raises(openai.RateLimitError) as caught:
        await client.chat.completions.create(model="auto", messages=body["messages"], tools=body["tools"])
    assert caught.value.code == "rate_limit_exceeded"
    assert int(caught.value.response.headers["retry-after"]) >= 1


async def test_keys_are_added_and_revoked_without_a_restart(app_client_factory, make_settings, tmp_path):
    path = key_file(tmp_path, ("old", "key-old", KeyLimits()))
    gw = await app_client_factory(make_settings(tenancy={"api_keys_file": path, "api_keys_reload_s": 0.05}))
    assert (await chat(gw, "key-old")).status_code == 200
    assert (await chat(gw, "key-new")).status_code == 401
    key_file(tmp_path, ("new", "key-new", KeyLimits()))  # old revoked, new added
    time.sleep(0.06)
    assert (await chat(gw, "key-new")).status_code == 200
    revoked = await chat(gw, "key-old")
    assert revoked.status_code == 401 and revoked.json()["error"]["code"] == "invalid_api_key"


async def test_plain_api_keys_still_work_beside_the_key_file(app_client_factory, make_settings, tmp_path):
    path = key_file(tmp_path, ("f", "key-f", KeyLimits(rpm=1)))
    gw = await app_client_factory(make_settings(api_keys="plain-key", tenancy={"api_keys_file": path}))
    assert [(await chat(gw, "plain-key")).status_code for _ in range(3)] == [200, 200, 200]
    assert (await chat(gw, "key-f")).status_code == 200
    missing = await gw.http.post("/v1/chat/completions", json=chat_body())
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"


async def test_admin_endpoints_need_an_admin_key(app_client_factory, make_settings, tmp_path):
    path = key_file(tmp_path, ("c", "client-key", KeyLimits()))
    gw = await app_client_factory(make_settings(
        tenancy={"api_keys_file": path, "admin_api_keys": "admin-key", "metrics_require_admin": True}
    ))
    for method, url, body in [("GET", "/v1/router/state", None),
                              ("POST", "/v1/router/edge-model", {"model": "x", "refit_calibration": False}),
                              ("GET", "/metrics", None)]:
        client = await gw.http.request(method, url, json=body, headers=auth("client-key"))
        assert client.status_code == 403, url
        assert client.json()["error"]["type"] == "permission_error"
        nobody = await gw.http.request(method, url, json=body)
        assert nobody.status_code == 401, url
        admin = await gw.http.request(method, url, json=body, headers=auth("admin-key"))
        assert admin.status_code == 200, url
    assert (await gw.http.get("/v1/models", headers=auth("client-key"))).status_code == 200
    assert (await chat(gw, "admin-key")).status_code == 200


async def test_admin_keys_alone_leave_the_client_api_open(app_client_factory, make_settings):
    gw = await app_client_factory(make_settings(tenancy={"admin_api_keys": "admin-key"}))
    assert (await gw.http.post("/v1/chat/completions", json=chat_body())).status_code == 200
    assert (await gw.http.get("/v1/router/state")).status_code == 401
    assert (await gw.http.get("/metrics")).status_code == 200, "metrics stay open unless configured"


async def test_cors_is_off_unless_configured(app_client_factory, make_settings, tmp_path):
    origin = {"origin": "https://app.example"}
    gw = await app_client_factory(make_settings())
    resp = await gw.http.post("/v1/chat/completions", json=chat_body(), headers=origin)
    assert resp.status_code == 200 and "access-control-allow-origin" not in resp.headers
    preflight = await gw.http.options("/v1/chat/completions", headers=origin | {"access-control-request-method": "POST"})
    assert "access-control-allow-origin" not in preflight.headers

    gw = await app_client_factory(make_settings(tenancy={"cors_origins": "https://app.example"},
                                                data_dir=tmp_path / "second"))
    preflight = await gw.http.options("/v1/chat/completions", headers=origin | {"access-control-request-method": "POST"})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://app.example"
    resp = await gw.http.post("/v1/chat/completions", json=chat_body(), headers=origin)
    assert resp.status_code == 200 and resp.headers["access-control-allow-origin"] == "https://app.example"
    assert "x-netgpt-route" in resp.headers["access-control-expose-headers"]
    other = await gw.http.post("/v1/chat/completions", json=chat_body(), headers={"origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


@pytest.mark.parametrize(("method", "url", "allow"), [
    ("GET", "/v1/chat/completions", "POST"),
    ("DELETE", "/v1/models", "GET"),
    ("PUT", "/v1/router/edge-model", "POST"),
])
async def test_405_names_the_allowed_methods(gw, method, url, allow):
    resp = await gw.http.request(method, url)
    assert resp.status_code == 405
    assert resp.headers["allow"] == allow
    assert set(resp.json()["error"]) == ERROR_KEYS


def test_missing_key_file_stops_the_start_with_the_variable_named(make_settings, tmp_path):
    from gateway.app import create_app
    from gateway.config import ConfigError

    with pytest.raises(ConfigError, match="NETGPT_API_KEYS_FILE"):
        create_app(make_settings(tenancy={"api_keys_file": tmp_path / "missing.toml"}))


async def test_limits_are_shared_through_redis(app_client_factory, make_settings, tmp_path):
    import uuid

    path = key_file(tmp_path, (f"shared-{uuid.uuid4().hex[:8]}", "key-r", KeyLimits(rpm=3)))
    settings = make_settings(redis_url="redis://127.0.0.1:6379/0", tenancy={"api_keys_file": path},
                             dataset={"enabled": False})
    replicas = [await app_client_factory(settings) for _ in range(2)]
    codes = []
    for i in range(6):  # each replica settles its lease with Redis in the background
        codes.append((await chat(replicas[i % 2], "key-r")).status_code)
        await asyncio.sleep(0.2)  # 4 settlement intervals: exact then (rpm 3: a lease is 1)
    assert codes.count(200) == 3 and codes.count(429) == 3
