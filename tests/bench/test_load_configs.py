"""The operator configurations of the load run (bench/load/configs.py): the files and bodies
they give the gateway are ones the gateway accepts, the generators send their key, and the
figures derived from them (CPU over no keys, overheads by the route taken). No timing."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import pytest

from bench.common.bodies import MESSAGES, TOOLS
from bench.load import configs, loadgen, report
from bench.load.loadgen import FixedRate, Saturation
from bench.load.upstream import Upstream
from gateway.experts.config import read_experts_file
from gateway.protocol.responses import input_items, parse_responses_request, to_chat
from gateway.routing.verifier import VerifierModel
from gateway.tenancy.keys import hash_key, read_entries


def _upstream() -> Upstream:
    return Upstream(port=18080, servers=[], per_route_port={})


def test_the_responses_body_carries_the_same_conversation_and_tools() -> None:
    raw = orjson.loads(configs.responses_body())
    request = parse_responses_request(raw)  # the gateway accepts it as is
    assert request.tool_names == [t["function"]["name"] for t in TOOLS]
    chat = to_chat(request, input_items(request), raw)
    assert [m["role"] for m in chat["messages"]] == [m["role"] for m in MESSAGES]
    assert chat["messages"][0]["content"] == MESSAGES[0]["content"]
    call = chat["messages"][2]["tool_calls"][0]
    assert call["function"] == MESSAGES[2]["tool_calls"][0]["function"]
    assert chat["messages"][3]["tool_call_id"] == call["id"]


def test_the_key_file_holds_the_bench_key_with_limits(tmp_path: Path) -> None:
    entries = read_entries(configs.write_key_file(tmp_path / "keys.toml"))
    assert [e.sha256 for e in entries] == [hash_key(configs.KEY)]
    assert not entries[0].limits.unlimited  # the limiter runs on every request
    assert configs.AUTH == f"Authorization: Bearer {configs.KEY}"


def test_the_experts_file_names_two_vllm_experts_on_the_canned_edge(tmp_path: Path) -> None:
    experts = read_experts_file(configs.write_experts_file(tmp_path / "experts.toml", _upstream()))
    assert [e.name for e in experts] == ["expert-a", "expert-b"]
    assert {str(e.base_url) for e in experts} == {"http://127.0.0.1:18080/edge/v1"}
    assert {e.scrape_url() for e in experts} == {"http://127.0.0.1:18080/edge/metrics"}


def test_the_verifier_file_is_a_fit_the_gateway_loads() -> None:
    model = VerifierModel.from_json(configs.VERIFIER_FILE.read_bytes())
    assert model.edge_model == "SmolLM2-135M-Instruct"


def test_each_configuration_switches_its_feature_on(tmp_path: Path) -> None:
    built = {c.name: c for c in configs.build((*configs.ALL, configs.SHARED), _upstream(), tmp_path)}
    assert built[configs.KEYS_LOCAL].env["NETGPT_REDIS_URL"] is None  # limits in process
    assert "NETGPT_REDIS_URL" not in built[configs.KEYS_REDIS].env  # keeps the run's Redis
    assert built[configs.KEYS_REDIS].headers == (configs.AUTH,)
    assert built[configs.RESPONSES].path == "/v1/responses"
    shared = built[configs.SHARED].env
    assert "NETGPT_API_KEYS_FILE" in shared and "NETGPT_EDGE_EXPERTS_FILE" in shared


def test_the_wrk_script_sends_the_key_and_refuses_a_header_that_would_break_lua() -> None:
    script = loadgen.lua_script(b"{}", (configs.AUTH,))
    assert re.search(r'wrk\.headers\["Authorization"\] = "Bearer ngk-bench-load-key-\w+"', script)
    with pytest.raises(ValueError, match="Name: value"):
        loadgen.lua_script(b"{}", ('X: "quoted"',))


def _sat(rps: float, cpu_s: float) -> Saturation:
    return Saturation(rps=rps, requests=int(rps * 4), errors=0, p50_ms=1.0, p99_ms=2.0, cpu_s=cpu_s)


def _rate(p50: float, p99: float) -> FixedRate:
    return FixedRate(rate=1000, achieved_rps=1000, completed=4000, errors=0, p50_ms=p50, p90_ms=p50, p99_ms=p99, max_ms=p99)


def test_configurations_are_compared_with_the_edge_path_and_by_the_route_they_took() -> None:
    sat = report.summarize_saturation({
        report.EDGE: [_sat(1000, 1.0)],  # 250 us/request
        configs.KEYS_REDIS: [_sat(1000, 1.12)],  # 280 us/request
        configs.VERIFIER: [_sat(1000, 1.4)],
    })
    rates = {"1000": report.summarize_rate({
        report.DIRECT: [_rate(0.10, 0.5)], report.DIRECT_CLOUD: [_rate(0.20, 0.6)],
        configs.KEYS_REDIS: [_rate(0.60, 1.5)], configs.VERIFIER: [_rate(1.0, 3.0)],
    })}
    derived = report.derive(sat, rates, {configs.VERIFIER: "cloud", configs.KEYS_REDIS: "edge"})
    assert derived[f"{configs.KEYS_REDIS}_added_cpu_us"] == pytest.approx(30.0)
    at = derived["at_1000"]
    assert at[f"{configs.KEYS_REDIS}_added_p50_ms"] == pytest.approx(0.50)
    # routed to the cloud: over both upstream calls
    assert at[f"{configs.VERIFIER}_added_p50_ms"] == pytest.approx(1.0 - 0.30)
    result = {"saturation": sat, "fixed_rate": rates, "derived": derived,
              "meta": {"routes": {configs.VERIFIER: "cloud"}}}
    result["checks"] = report.checks(result, "1000")
    verdict = {row["check"]: row["ok"] for row in result["checks"]}
    assert verdict["keys + Redis limits: CPU us/request over no keys"] is True  # +30 <= 50
    text = report.table(result)
    assert "gateway, verifier on (cloud)" in text and "keys-redis +30" in text


def test_a_baseline_trees_configuration_is_compared_with_that_trees_edge_path() -> None:
    base = report.BASE_PREFIX + configs.RESPONSES
    sat = report.summarize_saturation({
        report.EDGE: [_sat(1000, 1.0)], configs.RESPONSES: [_sat(1000, 1.4)],
        report.BASE_EDGE: [_sat(1000, 1.2)], base: [_sat(1000, 1.8)],
    })
    derived = report.derive(sat, {})
    assert derived[f"{configs.RESPONSES}_added_cpu_us"] == pytest.approx(100.0)
    assert derived[f"{base}_added_cpu_us"] == pytest.approx(150.0)  # over the baseline's own edge path
    text = report.table({"saturation": sat, "derived": derived, "meta": {}})
    assert "baseline tree: gateway, edge, POST /v1/responses" in text
