"""Shadow exploration, router state and the edge-model switch, through the app."""

from __future__ import annotations

import asyncio
import time

import pytest

from gateway.dataset.readers import spool_records
from tests.conftest import chat_body

pytestmark = pytest.mark.integration


async def wait_for(predicate, timeout_s=5.0):
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


async def test_shadow_calls_never_delay_the_client_and_are_logged(
    app_client_factory, make_settings, cloud_fake
):
    settings = make_settings(routing={"shadow_rate": 1.0, "shadow_max_concurrency": 2})
    gw = await app_client_factory(settings)
    started = time.perf_counter()
    resp = await gw.http.post("/v1/chat/completions", json=chat_body(x_fake={"cloud": {"delay_s": 1.0}}))
    elapsed = time.perf_counter() - started
    assert resp.headers["x-netgpt-route"] == "edge"
    assert elapsed < 0.8, "the client got its answer before the 1 s shadow call finished"
    await wait_for(lambda: gw.sample("netgpt_shadow_requests_total", {"outcome": "ok"}) == 1)
    assert len(cloud_fake.requests) == 1
    assert gw.sample("netgpt_requests_total", {"route": "edge", "reason": "score_above_threshold", "status": "200"}) == 1
    await gw.app.state.runtime.dataset.stop()  # flush to the spool (no Redis configured)
    records = list(spool_records(settings.data_dir))
    assert [r["kind"] for r in records] == ["shadow"]
    assert records[0]["edge_draft"]["schema_valid"] is True
    assert records[0]["cloud_response"]["message"]["tool_calls"]


async def test_shadow_concurrency_is_bounded(app_client_factory, make_settings, cloud_fake):
    gw = await app_client_factory(make_settings(routing={"shadow_rate": 1.0, "shadow_max_concurrency": 1}))
    body = chat_body(x_fake={"cloud": {"delay_s": 0.5}})
    for _ in range(3):
        assert (await gw.http.post("/v1/chat/completions", json=body)).status_code == 200
    assert gw.sample("netgpt_shadow_requests_total", {"outcome": "skipped"}) == 2
    await wait_for(lambda: gw.sample("netgpt_shadow_requests_total", {"outcome": "ok"}) == 1)


async def test_router_state_reports_live_inputs(gw):
    state = (await gw.http.get("/v1/router/state")).json()
    for target in ("cloud", "edge"):
        assert {"rtt_s", "bandwidth_bytes_per_s", "stale"} <= set(state["network"][target])
    assert 0.0 <= state["threshold"]["current"] <= 1.0
    assert state["threshold"]["q_cloud"] == 0.95
    assert {"multiplier", "cloud_share"} <= set(state["budget"])
    assert state["calibration"]["fitted"] is False
    assert state["models"] == {"edge": "edge-small", "cloud": "cloud-large"}


async def test_router_state_follows_the_price(app_client_factory, make_settings, tmp_path):
    cheap = await app_client_factory(make_settings(cloud={"price_output_per_mtok": 0.6}))
    dear = await app_client_factory(
        make_settings(cloud={"price_output_per_mtok": 600.0}, data_dir=tmp_path / "dear")
    )
    tau_cheap = (await cheap.http.get("/v1/router/state")).json()["threshold"]["current"]
    tau_dear = (await dear.http.get("/v1/router/state")).json()["threshold"]["current"]
    assert tau_dear < tau_cheap, "a dearer cloud lowers the bar for edge answers"


async def test_edge_model_switch_routes_to_the_new_name(gw, edge_fake):
    resp = await gw.http.post("/v1/router/edge-model", json={"model": "weather-lora"})
    assert resp.status_code == 200
    body = resp.json()
    assert body["previous"] == "edge-small" and body["model"] == "weather-lora"
    assert body["calibration"]["refit"] is False  # nothing logged yet to fit on
    await gw.http.post("/v1/chat/completions", json=chat_body())
    assert edge_fake.requests[-1]["body"]["model"] == "weather-lora"
    ids = [m["id"] for m in (await gw.http.get("/v1/models")).json()["data"]]
    assert "weather-lora" in ids
    bad = await gw.http.post("/v1/router/edge-model", json={"model": ""})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "model"


async def test_edge_model_switch_refits_calibration_on_fresh_records(
    app_client_factory, make_settings
):
    """The coherent update: after the edge model changes, the router refits its calibration
    from the logged pairs (shadow records give labels for confident drafts)."""
    settings = make_settings(routing={"shadow_rate": 1.0, "shadow_max_concurrency": 8},
                             calibration={"min_records": 20})
    gw = await app_client_factory(settings)
    for _ in range(12):  # confident, schema-valid drafts: answered by the edge, shadowed
        assert (await gw.http.post("/v1/chat/completions", json=chat_body())).status_code == 200
    for _ in range(12):  # unsure drafts the cloud disagrees with (it answers in text)
        body = chat_body(x_fake={"edge": {"logprob": -4.0}, "cloud": {"mode": "text"}})
        assert (await gw.http.post("/v1/chat/completions", json=body)).headers["x-netgpt-route"] == "cloud"
    await wait_for(lambda: gw.sample("netgpt_shadow_requests_total", {"outcome": "ok"}) == 12)
    await wait_for(lambda: gw.sample("netgpt_dataset_records_total", {"sink": "spool"}) == 24)

    resp = await gw.http.post("/v1/router/edge-model", json={"model": "weather-lora-v2"})
    calibration = resp.json()["calibration"]
    assert calibration["refit"] is True and calibration["fitted"] is True
    assert calibration["n"] == 24
    holder = gw.app.state.runtime.calibration
    assert holder(0.95) > 0.9 and holder(0.05) < 0.1, "confident drafts agreed, unsure ones did not"
    state = (await gw.http.get("/v1/router/state")).json()
    assert state["calibration"]["fitted"] is True and state["calibration"]["age_s"] < 60
    assert settings.calibration_file.exists(), "the fit is saved and loaded at the next start"
