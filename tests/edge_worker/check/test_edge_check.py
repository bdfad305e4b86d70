"""`netgpt edge check`: the judging rules, the gateway it starts, and a run on the real edge."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from edge_worker.check.gateway import CLOUD_OFF, check_env
from edge_worker.check.requests import REQUESTS, WEATHER
from edge_worker.check.run import Row, calls_from_sse, schema_ok, summary
from gateway.cli import main

BODY = {"messages": [], "tools": [WEATHER]}


def call(name: str, args: Any) -> dict[str, Any]:
    text = args if isinstance(args, str) else json.dumps(args)
    return {"function": {"name": name, "arguments": text}}


def test_schema_ok_accepts_only_valid_calls_of_offered_tools() -> None:
    assert schema_ok(BODY, [call("get_weather", {"city": "Paris"})])
    assert schema_ok(BODY, [call("get_weather", {"city": "Oslo", "unit": "fahrenheit"})])
    assert not schema_ok(BODY, [])  # no call at all
    assert not schema_ok(BODY, [call("get_time", {"city": "Paris"})])  # not offered
    assert not schema_ok(BODY, [call("get_weather", {})])  # required city missing
    assert not schema_ok(BODY, [call("get_weather", {"city": "X", "unit": "kelvin"})])  # enum
    assert not schema_ok(BODY, [call("get_weather", "{not json")])
    assert not schema_ok(BODY, [call("get_weather", {"city": "A"}), call("nope", {})])


def test_calls_from_sse_joins_argument_fragments() -> None:
    chunks = [
        {"choices": [{"delta": {"tool_calls": [{"index": 0, "function": {
            "name": "get_weather", "arguments": "{\"ci"}}]}}]},
        {"choices": [{"delta": {"tool_calls": [{"index": 0, "function": {
            "arguments": "ty\": \"Rome\"}"}}]}}]},
        {"choices": [{"delta": {}, "finish_reason": "tool_calls"}]},
    ]
    text = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
    calls = calls_from_sse(text)
    assert calls == [call("get_weather", "{\"city\": \"Rome\"}")]
    assert schema_ok(BODY, calls)


def test_requests_are_well_formed() -> None:
    names = [name for name, _ in REQUESTS]
    assert len(names) == len(set(names)) >= 20
    for _, body in REQUESTS:
        assert body["messages"] and body["tools"]
        assert all(t["function"]["parameters"]["type"] == "object" for t in body["tools"])


def test_the_started_gateway_has_the_cloud_and_side_effects_off(tmp_path: Path) -> None:
    user = {"NETGPT_EDGE_BASE_URL": "http://edge:8000/v1", "NETGPT_REDIS_URL": "redis://r:6379",
            "NETGPT_API_KEYS": "sk-a", "NETGPT_CLOUD_API_KEY": "sk-real", "PATH": "/bin",
            "NETGPT_ROUTING_SHADOW_RATE": "0.3"}
    env = check_env(user, tmp_path, {"NETGPT_EDGE_MODEL": "smollm2"})
    assert env["NETGPT_EDGE_BASE_URL"] == "http://edge:8000/v1"  # the user's edge
    assert env["NETGPT_EDGE_MODEL"] == "smollm2" and env["PATH"] == "/bin"
    assert env["NETGPT_CLOUD_BASE_URL"] == CLOUD_OFF
    assert env["NETGPT_ROUTING_SHADOW_RATE"] == "0"
    assert env["NETGPT_DATASET_ENABLED"] == "false"
    assert env["NETGPT_EDGE_TIMEOUT_S"] == "60"
    assert check_env({"NETGPT_EDGE_TIMEOUT_S": "5"}, tmp_path, {})["NETGPT_EDGE_TIMEOUT_S"] == "5"
    for gone in ("NETGPT_REDIS_URL", "NETGPT_API_KEYS", "NETGPT_CLOUD_API_KEY"):
        assert gone not in env


def test_summary_counts() -> None:
    rows = [Row("a", 200, 0.5, 1, True, 10, "forced"), Row("b", 503, 1.5, 0, False, None, None)]
    assert summary(rows).startswith("2 requests: 1 answered 200, 1 errors, 1 schema-valid calls")


@pytest.mark.integration
def test_an_edge_that_is_down_fails_the_check(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """The real gateway started here, pointed at a port with no edge: every request 503."""
    out = tmp_path / "rows.json"
    code = main(["edge", "check", "--edge-url", "http://127.0.0.1:9/v1", "--timeout", "10",
                 "--out", str(out)])
    assert code == 1
    rows = json.loads(out.read_text())
    assert len(rows) == len(REQUESTS)
    assert {r["status"] for r in rows} == {503}
    assert "0 answered 200" in capsys.readouterr().out


@pytest.mark.llamacpp
@pytest.mark.integration
@pytest.mark.slow
def test_the_real_edge_answers_through_the_gateway(real_edge: Any, tmp_path: Path) -> None:
    """SmolLM2 on llama-server with the llama.cpp recipe, every request forced to the edge:
    most answered with a schema-valid call; the exit status says whether all were answered."""
    out = tmp_path / "rows.json"
    code = main(["edge", "check", "--edge-url", real_edge.base_url, "--edge-model", "smollm2",
                 "--flavor", "llamacpp", "--prefill", "<tool_call>\\n", "--out", str(out)])
    rows = json.loads(out.read_text())
    assert [r["name"] for r in rows] == [name for name, _ in REQUESTS]
    assert code == (0 if all(r["status"] == 200 for r in rows) else 1)
    answered = [r for r in rows if r["status"] == 200]
    assert len(answered) >= len(rows) * 3 // 4, rows
    assert sum(r["schema_valid_call"] for r in rows) >= len(rows) // 2, rows
    assert all(r["reason"] == "forced" for r in answered)  # model=edge: never the cloud
