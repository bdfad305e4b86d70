"""Every dashboard panel query and alert expression against a real Prometheus scraping the
gateway and the real llama.cpp edge after a mixed run (tests/deploy/prom_live.py; the table in
docs/dashboards-check.md comes from the same check)."""

from __future__ import annotations

import os

import pytest

from tests.deploy.prom_live import EXPECTED_EMPTY, render, run_check

pytestmark = [pytest.mark.prometheus, pytest.mark.integration, pytest.mark.slow]
REDIS_URL = os.environ.get("NETGPT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def test_every_query_and_alert_returns_data_from_a_real_prometheus(real_edge, tmp_path):
    result = run_check(real_edge.root_url, real_edge.base_url, tmp_path, REDIS_URL)
    rows = result["rows"]
    report = render(result)
    assert result["targets_up"] == {"netgpt-gateway": True, "llamacpp": True, "vllm": True,
                                    "prometheus": True}, report
    assert [r for r in rows if r.error] == [], report
    no_data = [f"{r.source}: {r.expr}" for r in rows if r.kind != "alert" and not r.ok]
    assert no_data == [], report
    # what is listed as unable to return data really returns none (else the list is stale)
    listed = [r for r in rows if r.expected_empty is not None]
    assert all(r.series == 0 for r in listed)
    assert {r.expected_empty for r in listed} <= set(EXPECTED_EMPTY.values())
    # Prometheus evaluated every loaded rule without error
    assert result["rule_health"] and all(h == "ok" for h in result["rule_health"].values()), report
    alerts = {r.source.removeprefix("rule "): r.value for r in rows if r.kind == "alert"}
    assert alerts["NetgptGatewayDown"] == "not firing" and alerts["VllmMetricsDown"] == "not firing"
    # the real edge's own series were scraped
    assert result["edge_series"]["llamacpp:requests_processing"], report
    statuses = [status for _, status, _ in result["requests"]]
    assert 200 in statuses and 400 in statuses and any(s >= 500 for s in statuses)
