"""The request path through the app: routing, fallbacks, headers, errors, metrics.

Upstreams are fake LLM servers on real loopback sockets; the gateway app runs in-process with its
lifespan (real aiohttp clients). Each upstream is steered per request through ``x_fake``, an
unknown field the gateway forwards as it forwards every unknown field.
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import CLIENT_KEY, CLOUD_KEY, chat_body
from tests.support.server import closed_port_url

pytestmark = pytest.mark.integration


async def post(gw, body, **kw):
    return await gw.http.post("/v1/chat/completions", json=body, **kw)


def calls_of(resp):
    return resp.json()["choices"][0]["message"].get("tool_calls") or []


async def test_confident_valid_edge_draft_is_answered_by_the_edge(gw, edge_fake, cloud_fake):
    resp = await post(gw, chat_body())
    assert resp.status_code == 200
    assert resp.headers["x-netgpt-route"] == "edge"
    assert resp.headers["x-netgpt-reason"] == "score_above_threshold"
    assert float(resp.headers["x-netgpt-score"]) >= float(resp.headers["x-netgpt-threshold"])
    body = resp.json()
    assert body["object"] == "chat.completion" and body["choices"][0]["finish_reason"] == "tool_calls"
    assert calls_of(resp)[0]["function"]["name"] == "get_weather"
    assert body["choices"][0]["logprobs"] is None, "log-probs the gateway asked for are not leaked"
    assert len(cloud_fake.requests) == 0
    # the edge was asked for log-probabilities and offered the reserved offload tool
    sent = edge_fake.requests[-1]["body"]
    assert sent["logprobs"] is True and sent["model"] == "edge-small"
    assert "request_cloud_assistance" in [t["function"]["name"] for t in sent["tools"]]


async def test_low_confidence_draft_falls_back_to_the_cloud(gw, cloud_fake):
    resp = await post(gw, chat_body(x_fake={"edge": {"logprob": -4.0}}))
    assert resp.status_code == 200
    assert resp.headers["x-netgpt-route"] == "cloud"
    assert resp.headers["x-netgpt-reason"] == "score_below_threshold"
    assert float(resp.headers["x-netgpt-score"]) < float(resp.headers["x-netgpt-threshold"])
    assert resp.json()["model"] == "cloud-large"
    sent = cloud_fake.requests[-1]
    assert sent["headers"]["authorization"] == f"Bearer {CLOUD_KEY}"
    assert sent["body"]["model"] == "cloud-large"


@pytest.mark.parametrize("mode", ["invalid_name", "invalid_json", "missing_required", "wrong_type"])
async def test_schema_invalid_draft_is_never_returned(gw, mode):
    resp = await post(gw, chat_body(x_fake={"edge": {"mode": mode}}))
    assert resp.status_code == 200
    assert resp.headers["x-netgpt-route"] == "cloud"
    assert resp.headers["x-netgpt-reason"] == "schema_invalid"
    assert float(resp.headers["x-netgpt-score"]) == 0.0
    call = calls_of(resp)[0]
    args = json.loads(call["function"]["arguments"])
    assert call["function"]["name"] == "get_weather"
    assert isinstance(args["city"], str) and args["unit"] in ("celsius", "fahrenheit")
    assert gw.sample("netgpt_schema_invalid_total", {"source": "edge"}) == 1


@pytest.mark.parametrize("mode", ["offload_marker", "offload_tool"])
async def test_offload_request_goes_to_the_cloud_and_marker_never_reaches_client(gw, mode):
    resp = await post(gw, chat_body(x_fake={"edge": {"mode": mode}}))
    assert resp.headers["x-netgpt-route"] == "cloud"
    assert resp.headers["x-netgpt-reason"] == "offload_requested"
    assert "<unknown>" not in resp.text and "request_cloud_assistance" not in resp.text


async def test_edge_down_cloud_answers(app_client_factory, make_settings, cloud_fake):
    gw = await app_client_factory(make_settings(edge={"base_url": closed_port_url() + "/v1"}))
    resp = await post(gw, chat_body())
    assert resp.status_code == 200
    assert resp.headers["x-netgpt-route"] == "cloud"
    assert resp.headers["x-netgpt-reason"] == "edge_unavailable"


async def test_edge_too_slow_counts_as_unavailable(app_client_factory, make_settings):
    gw = await app_client_factory(make_settings(edge={"timeout_s": 0.3}))
    resp = await post(gw, chat_body(x_fake={"edge": {"delay_s": 2.0}}))
    assert resp.headers["x-netgpt-reason"] == "edge_unavailable"
    assert resp.headers["x-netgpt-route"] == "cloud"


async def test_cloud_down_with_valid_draft_answers_with_the_draft(app_client_factory, make_settings):
    gw = await app_client_factory(make_settings(cloud={"base_url": closed_port_url() + "/v1"}))
    resp = await post(gw, chat_body(x_fake={"edge": {"logprob": -4.0}}))
    assert resp.status_code == 200
    assert resp.headers["x-netgpt-route"] == "edge"
    assert resp.headers["x-netgpt-reason"] == "cloud_unavailable"
    assert calls_of(resp)[0]["function"]["name"] == "get_weather"


async def test_both_down_is_a_clear_503(app_client_factory, make_settings):
    gw = await app_client_factory(
        make_settings(
            edge={"base_url": closed_port_url() + "/v1"},
            cloud={"base_url": closed_port_url() + "/v1"},
        )
    )
    resp = await post(gw, chat_body())
    assert resp.status_code == 503
    error = resp.json()["error"]
    assert "edge upstream" in error["message"] and "cloud upstream" in error["message"]
    assert error["type"] == "upstream_error"
    assert CLOUD_KEY not in resp.text


async def test_cloud_error_with_invalid_draft_is_a_502(gw):
    resp = await post(
        gw, chat_body(x_fake={"edge": {"mode": "invalid_json"}, "cloud": {"mode": "error", "status": 500}})
    )
    assert resp.status_code == 502
    assert "cloud upstream" in resp.json()["error"]["message"]


async def test_cloud_4xx_caused_by_the_request_is_passed_on(gw):
    resp = await post(
        gw, chat_body(model="cloud", x_fake={"cloud": {"mode": "error", "status": 400, "message": "bad tools"}})
    )
    assert resp.status_code == 400
    assert "bad tools" in resp.json()["error"]["message"]


async def test_forced_routes(gw, edge_fake, cloud_fake):
    resp = await post(gw, chat_body(model="cloud"))
    assert (resp.headers["x-netgpt-route"], resp.headers["x-netgpt-reason"]) == ("cloud", "forced")
    assert len(edge_fake.requests) == 0
    resp = await post(gw, chat_body(model="edge", x_fake={"edge": {"logprob": -5.0}}))
    assert (resp.headers["x-netgpt-route"], resp.headers["x-netgpt-reason"]) == ("edge", "forced")
    assert len(cloud_fake.requests) == 1


async def test_unknown_fields_are_forwarded(gw, edge_fake, cloud_fake):
    await post(gw, chat_body(model="cloud", vendor_knob={"a": 1}, user="u-1"))
    sent = cloud_fake.requests[-1]["body"]
    assert sent["vendor_knob"] == {"a": 1} and sent["user"] == "u-1"


async def test_request_id_is_echoed_or_generated(gw):
    resp = await post(gw, chat_body(), headers={"x-request-id": "abc-123"})
    assert resp.headers["x-request-id"] == "abc-123"
    resp = await post(gw, chat_body(), headers={"x-request-id": "bad id with spaces"})
    assert len(resp.headers["x-request-id"]) == 32


@pytest.mark.parametrize(
    ("content", "status", "param"),
    [
        (b"{not json", 400, None),
        (b'{"model": "auto"}', 400, "messages"),
        (b'{"messages": [{"role": "user", "content": 5}]}', 400, "messages[0].content"),
        (b'{"messages": [{"role": "user", "content": "x"}], "n": 3}', 400, "n"),
        (b'{"messages": [{"role": "user", "content": "x"}], "max_tokens": "many"}', 400, "max_tokens"),
        (b'[]', 400, None),
    ],
)
async def test_bad_input_gets_an_openai_envelope(gw, content, status, param):
    resp = await gw.http.post(
        "/v1/chat/completions", content=content, headers={"content-type": "application/json"}
    )
    assert resp.status_code == status
    error = resp.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error" and error["param"] == param
    assert "Traceback" not in resp.text


async def test_tool_choice_naming_an_absent_tool_is_a_400(gw):
    body = chat_body(tool_choice={"type": "function", "function": {"name": "nope"}})
    resp = await post(gw, body)
    assert resp.status_code == 400 and resp.json()["error"]["param"] == "tool_choice"


async def test_five_megabyte_body_is_a_413(gw, edge_fake):
    big = chat_body(messages=[{"role": "user", "content": "x" * (5 << 20)}])
    resp = await post(gw, big)
    assert resp.status_code == 413
    assert resp.json()["error"]["code"] == "request_too_large"
    assert len(edge_fake.requests) == 0


async def test_unknown_route_and_method_get_envelopes(gw):
    resp = await gw.http.get("/v1/nothing-here")
    assert resp.status_code == 404 and "error" in resp.json()
    resp = await gw.http.get("/v1/chat/completions")
    assert resp.status_code == 405 and "error" in resp.json()


async def test_auth_required_when_keys_are_set(app_client_factory, make_settings):
    gw = await app_client_factory(make_settings(api_keys=f"{CLIENT_KEY},other"))
    resp = await post(gw, chat_body())
    assert resp.status_code == 401 and resp.json()["error"]["code"] == "invalid_api_key"
    resp = await post(gw, chat_body(), headers={"authorization": "Bearer wrong"})
    assert resp.status_code == 401
    resp = await post(gw, chat_body(), headers={"authorization": f"Bearer {CLIENT_KEY}"})
    assert resp.status_code == 200
    assert (await gw.http.get("/v1/models")).status_code == 401
    assert (await gw.http.get("/healthz")).status_code == 200


async def test_models_health_ready(gw, app_client_factory, make_settings, tmp_path):
    ids = [m["id"] for m in (await gw.http.get("/v1/models")).json()["data"]]
    assert ids == ["auto", "edge", "cloud", "edge-small", "cloud-large"]
    assert (await gw.http.get("/healthz")).json() == {"status": "ok"}
    ready = await gw.http.get("/readyz")
    assert ready.status_code == 200 and ready.json()["ready"] is True
    down = await app_client_factory(
        make_settings(cloud={"base_url": closed_port_url() + "/v1"}, data_dir=tmp_path / "other")
    )
    ready = await down.http.get("/readyz")
    assert ready.status_code == 503 and ready.json()["upstreams"]["cloud"]["ok"] is False


async def test_metrics_count_a_mixed_run(gw):
    for _ in range(3):
        await post(gw, chat_body())
    for _ in range(2):
        await post(gw, chat_body(x_fake={"edge": {"mode": "wrong_type"}}))
    await post(gw, chat_body(model="cloud"))
    await gw.http.post("/v1/chat/completions", content=b"nope")
    text = (await gw.http.get("/metrics")).text
    for name in (
        "netgpt_requests_total", "netgpt_request_duration_seconds_bucket",
        "netgpt_upstream_duration_seconds_bucket", "netgpt_route_score_bucket",
        "netgpt_fallback_threshold", "netgpt_cloud_cost_usd_total", "netgpt_schema_invalid_total",
    ):
        assert name in text, name
    s = gw.sample
    assert s("netgpt_requests_total", {"route": "edge", "reason": "score_above_threshold", "status": "200"}) == 3
    assert s("netgpt_requests_total", {"route": "cloud", "reason": "schema_invalid", "status": "200"}) == 2
    assert s("netgpt_requests_total", {"route": "cloud", "reason": "forced", "status": "200"}) == 1
    assert s("netgpt_requests_total", {"route": "none", "reason": "invalid_request", "status": "400"}) == 1
    assert s("netgpt_request_duration_seconds_count", {"route": "edge"}) == 3
    assert s("netgpt_upstream_duration_seconds_count", {"upstream": "edge"}) == 5
    assert s("netgpt_upstream_duration_seconds_count", {"upstream": "cloud"}) == 3
    assert s("netgpt_schema_invalid_total", {"source": "edge"}) == 2
    assert s("netgpt_route_score_count") == 5
    assert s("netgpt_cloud_cost_usd_total") > 0


async def test_no_key_in_logs(gw, caplog):
    caplog.set_level("DEBUG")
    await post(gw, chat_body(model="cloud"))
    await post(gw, chat_body(x_fake={"cloud": {"mode": "error", "status": 401}, "edge": {"mode": "invalid_name"}}))
    assert CLOUD_KEY not in caplog.text
    assert "What is the weather" not in caplog.text, "message content is not logged by default"
    decisions = [r for r in caplog.records if r.name == "netgpt.request"]
    assert decisions and all(hasattr(r, "request_id") and hasattr(r, "route") for r in decisions)


async def test_content_is_logged_only_when_asked(app_client_factory, make_settings, caplog, tmp_path):
    caplog.set_level("INFO")
    gw = await app_client_factory(make_settings(log_content=True))
    await post(gw, chat_body())
    lines = [r for r in caplog.records if r.name == "netgpt.content"]
    assert lines and lines[0].messages[0]["content"] == "What is the weather in Oslo?"


async def test_slow_cloud_ends_within_its_timeout_with_the_draft(app_client_factory, make_settings):
    import time

    gw = await app_client_factory(make_settings(cloud={"read_timeout_s": 0.5, "max_retries": 0}))
    started = time.perf_counter()
    resp = await post(gw, chat_body(x_fake={"edge": {"logprob": -4.0}, "cloud": {"delay_s": 5.0}}))
    assert time.perf_counter() - started < 2.5, "no hang: the cloud's read timeout ends the wait"
    assert (resp.headers["x-netgpt-route"], resp.headers["x-netgpt-reason"]) == ("edge", "cloud_unavailable")


async def test_required_calibration_sends_uncalibrated_drafts_to_the_cloud(
    app_client_factory, make_settings, cloud_fake, tmp_path
):
    from gateway.policy.calibration_store import save_calibration
    from gateway.routing.calibration import fit_isotonic

    # no calibration file: even a confident, valid draft is not trusted
    gw = await app_client_factory(make_settings(calibration={"required": True}))
    resp = await post(gw, chat_body())
    assert resp.status_code == 200
    assert resp.headers["x-netgpt-route"] == "cloud", dict(resp.headers)
    assert resp.headers["x-netgpt-reason"] == "score_below_threshold"
    assert float(resp.headers["x-netgpt-score"]) == 0.0
    # with a calibration that trusts high raw scores, the same draft is answered at the edge
    path = tmp_path / "cal.json"
    save_calibration(path, fit_isotonic([0.1, 0.2, 0.9, 0.95], [0, 0, 1, 1]), {"n": 4})
    gw = await app_client_factory(
        make_settings(calibration={"required": True, "file": str(path)}, data_dir=tmp_path / "b")
    )
    resp = await post(gw, chat_body())
    assert resp.headers["x-netgpt-route"] == "edge", resp.headers
    assert float(resp.headers["x-netgpt-score"]) > 0.9
    # a live switch to another edge model drops the old model's fit: the cloud answers again
    switch = await gw.http.post("/v1/router/edge-model",
                                json={"model": "edge-small-v2", "refit_calibration": False})
    assert switch.status_code == 200
    resp = await post(gw, chat_body())
    assert resp.headers["x-netgpt-route"] == "cloud" and float(resp.headers["x-netgpt-score"]) == 0.0
