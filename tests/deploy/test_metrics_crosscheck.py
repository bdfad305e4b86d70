"""No dashboard panel or alert may watch a metric nobody exports.

Every metric name in the committed Grafana dashboards and Prometheus alert rules must be on the
gateway's ``/metrics`` (scraped from the real app after a short mixed run) or be a vLLM /
Prometheus series listed in ``deploy/metrics-external.txt``; the fake vLLM's ``/metrics`` must
only serve names from that list.
"""

from __future__ import annotations

import json

import httpx
import pytest
import yaml
from prometheus_client import generate_latest

from gateway.metrics import GatewayMetrics
from tests.conftest import chat_body
from tests.deploy.promql import (
    DASHBOARDS,
    RULES,
    all_queries,
    dashboard_exprs,
    exported_names,
    external_names,
    metric_names,
    rule_exprs,
    unexported,
)


def queried_names() -> set[str]:
    return {name for _, expr in all_queries() for name in metric_names(expr)}


def test_the_check_sees_the_dashboards_and_the_rules():
    wheres = {where for where, _ in all_queries()}
    assert any(w.startswith("netgpt-gateway /") for w in wheres)
    assert any(w.startswith("netgpt-vllm /") for w in wheres)
    assert any(w.startswith("rule ") for w in wheres)
    names = queried_names()
    assert len([n for n in names if n.startswith("netgpt_")]) >= 15
    assert len([n for n in names if n.startswith("vllm:")]) >= 5


def test_every_queried_metric_is_declared_by_gateway_metrics():
    exported = exported_names(generate_latest(GatewayMetrics().registry).decode())
    assert unexported(all_queries(), exported | external_names()) == []


@pytest.mark.integration
async def test_every_queried_metric_is_on_metrics_after_a_mixed_run(gw, edge_fake, cloud_fake):
    post = gw.http.post
    for _ in range(3):
        assert (await post("/v1/chat/completions", json=chat_body())).status_code == 200
    low = chat_body(x_fake={"edge": {"logprob": -4.0}})
    assert (await post("/v1/chat/completions", json=low)).headers["x-netgpt-route"] == "cloud"
    bad = chat_body(x_fake={"edge": {"mode": "wrong_type"}})
    assert (await post("/v1/chat/completions", json=bad)).headers[
        "x-netgpt-reason"
    ] == "schema_invalid"
    failing_cloud = chat_body(model="cloud", x_fake={"cloud": {"mode": "error", "status": 503}})
    assert (await post("/v1/chat/completions", json=failing_cloud)).status_code >= 500
    resp = await gw.http.get("/metrics")
    assert resp.status_code == 200
    exported = exported_names(resp.text)
    # the run itself produced the series the routing panels are built on
    for name in (
        "netgpt_requests_total",
        "netgpt_request_duration_seconds_bucket",
        "netgpt_route_score_bucket",
        "netgpt_upstream_errors_total",
    ):
        assert any(line.startswith(name + "{") for line in resp.text.splitlines()), name
    assert unexported(all_queries(), exported | external_names()) == []


def test_a_misspelt_metric_in_a_dashboard_is_caught():
    exported = exported_names(generate_latest(GatewayMetrics().registry).decode())
    board = json.loads((DASHBOARDS / "netgpt-gateway.json").read_text(encoding="utf-8"))
    text = json.dumps(board).replace("netgpt_requests_total", "netgpt_request_total")
    missing = unexported(list(dashboard_exprs(json.loads(text))), exported | external_names())
    assert missing and all(m.endswith(": netgpt_request_total") for m in missing)
    assert any("Request rate by route" in m for m in missing)


def test_a_misspelt_metric_in_an_alert_rule_is_caught():
    exported = exported_names(generate_latest(GatewayMetrics().registry).decode())
    rules = yaml.safe_load((RULES / "netgpt.yml").read_text(encoding="utf-8"))
    rules["groups"][0]["rules"].append(
        {"alert": "Typo", "expr": "netgpt_dataset_spool_dept > 0 and up == 1"}
    )
    assert unexported(list(rule_exprs(rules)), exported | external_names()) == [
        "rule Typo: netgpt_dataset_spool_dept"
    ]


def test_a_misspelt_vllm_series_is_caught():
    exported = exported_names(generate_latest(GatewayMetrics().registry).decode())
    queries = [("panel", "sum(vllm:num_request_running)")]
    assert unexported(queries, exported | external_names()) == ["panel: vllm:num_request_running"]


def test_the_fake_vllm_serves_only_documented_series(edge_server):
    _, server = edge_server
    text = httpx.get(server.url + "/metrics", timeout=5).text
    served = {n for n in exported_names(text) if n.startswith("vllm:")}
    assert served, "the fake vLLM serves no vllm:* series"
    assert served <= external_names()
