"""The committed Grafana dashboards: generated from code, complete, well formed."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import yaml

from tests.deploy.promql import DASHBOARDS, ROOT, metric_names

GENERATOR = ROOT / "deploy" / "grafana" / "generate_dashboards.py"


def load_generator():
    spec = importlib.util.spec_from_file_location("generate_dashboards", GENERATOR)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def boards() -> dict[str, dict]:
    return {p.name: json.loads(p.read_text(encoding="utf-8")) for p in DASHBOARDS.glob("*.json")}


def test_committed_json_equals_the_generators_output():
    gen = load_generator()
    built = gen.build()
    assert set(built) == {p.name for p in DASHBOARDS.glob("*.json")}
    for name, board in built.items():
        assert (DASHBOARDS / name).read_text(encoding="utf-8") == gen.render(board), (
            f"{name} is out of date: run python deploy/grafana/generate_dashboards.py"
        )


def test_check_mode_reports_a_stale_file(tmp_path: Path):
    gen = load_generator()
    assert gen.main(["--out", str(tmp_path)]) == 0
    assert gen.main(["--check", "--out", str(tmp_path)]) == 0
    (tmp_path / "netgpt-vllm.json").write_text("{}", encoding="utf-8")
    assert gen.main(["--check", "--out", str(tmp_path)]) == 1


def panel_queries(board: dict) -> dict[str, set[str]]:
    return {
        p["title"]: {n for t in p.get("targets", []) for n in metric_names(t["expr"])}
        for p in board["panels"]
        if p["type"] != "row"
    }


@pytest.mark.parametrize(
    ("board", "needs"),
    [
        (
            "netgpt-gateway.json",
            {
                "netgpt_requests_total",  # request rate by route, edge share, reasons
                "netgpt_request_duration_seconds_bucket",  # latency quantiles by route
                "netgpt_route_score_bucket",  # score distribution
                "netgpt_fallback_threshold",
                "netgpt_network_rtt_seconds",
                "netgpt_network_bandwidth_bytes_per_second",
                "netgpt_cloud_cost_usd_total",
                "netgpt_budget_multiplier",
                "netgpt_schema_invalid_total",
                "netgpt_dataset_records_total",
                "netgpt_dataset_spool_depth",
                "netgpt_upstream_errors_total",
            },
        ),
        (
            "netgpt-vllm.json",
            {
                "vllm:num_requests_running",
                "vllm:num_requests_waiting",
                "vllm:kv_cache_usage_perc",
                "vllm:prompt_tokens_total",
                "vllm:generation_tokens_total",
            },
        ),
    ],
)
def test_the_dashboards_show_what_the_issue_asks_for(board, needs):
    queried = set().union(*panel_queries(boards()[board]).values())
    assert needs <= queried, needs - queried


def test_threshold_is_drawn_with_score_rtt_and_bandwidth():
    panels = panel_queries(boards()["netgpt-gateway.json"])
    together = [names for names in panels.values() if "netgpt_fallback_threshold" in names]
    assert any("netgpt_route_score_bucket" in n for n in together)
    assert any("netgpt_network_rtt_seconds" in n for n in together)
    assert any("netgpt_network_bandwidth_bytes_per_second" in n for n in together)


@pytest.mark.parametrize("name", ["netgpt-gateway.json", "netgpt-vllm.json"])
def test_dashboard_is_well_formed(name):
    board = boards()[name]
    assert board["uid"] and board["title"] and board["schemaVersion"] >= 36
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    variables = {v["name"] for v in board["templating"]["list"]}
    for panel in board["panels"]:
        pos = panel["gridPos"]
        assert 0 <= pos["x"] and pos["x"] + pos["w"] <= 24 and pos["h"] > 0
        if panel["type"] == "row":
            continue
        assert panel["description"], panel["title"]
        assert panel["targets"], panel["title"]
        for t in panel["targets"]:
            # the datasource is a variable, so the JSON also imports into another Grafana
            assert t["datasource"]["uid"] == "${datasource}" and "datasource" in variables
    # no two panels overlap
    cells = set()
    for panel in board["panels"]:
        pos = panel["gridPos"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in cells, panel["title"]
                cells.add((x, y))


def test_provisioning_points_at_the_dashboards_and_prometheus():
    prov = ROOT / "deploy" / "grafana" / "provisioning"
    ds = yaml.safe_load((prov / "datasources" / "prometheus.yml").read_text())["datasources"][0]
    assert ds["type"] == "prometheus" and ds["url"] == "http://prometheus:9090"
    provider = yaml.safe_load((prov / "dashboards" / "netgpt.yml").read_text())["providers"][0]
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"./deploy/grafana/dashboards:{provider['options']['path']}:ro" in mounts
    assert "./deploy/grafana/provisioning:/etc/grafana/provisioning:ro" in mounts
