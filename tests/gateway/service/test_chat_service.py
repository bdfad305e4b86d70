"""``ChatService`` driven in-process, with fakes of its ports (no HTTP, no server): each stage's
effect on the outcome, the headers and the dataset record."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest

from gateway.config import Settings
from gateway.errors import UpstreamConnectError
from gateway.experts.slo import NO_SLO
from gateway.metrics import GatewayMetrics
from gateway.network.static import StaticNetwork
from gateway.policy.inputs import LiveInputs
from gateway.ports import CloudAnswer, CloudStream, EdgeDraft
from gateway.protocol.chat import parse_request
from gateway.routing import schema_guard
from gateway.routing.state import LinkEstimate
from gateway.service import ChatService, RequestInfo, StreamError
from gateway.service import chat as chat_module

TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]


def completion(arguments: str, logprob: float = -0.01) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "logprobs": {"content": [
            {"token": "x", "logprob": logprob, "top_logprobs": []}]},
            "message": {"role": "assistant", "content": None, "tool_calls": [{
                "id": "call_1", "type": "function",
                "function": {"name": "get_weather", "arguments": arguments}}]}}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }


class FakeExperts:
    """The placement port: one expert, always up."""

    def __init__(self, draft: EdgeDraft | Exception) -> None:
        self.result = draft
        self.bodies: list[dict[str, Any]] = []

    def plan(self, raw: dict[str, Any], body_bytes: int, slo: Any, cloud_latency_s: float) -> Any:
        return SimpleNamespace(expert=SimpleNamespace(name="e1"), to_cloud=None, quality=None,
                               slo=NO_SLO)

    async def draft(self, plan: Any, body: dict[str, Any]) -> EdgeDraft:
        self.bodies.append(body)
        if isinstance(self.result, Exception):
            raise self.result
        return self.result

    def finished(self, *args: Any) -> None:
        return None

    def model_of(self, expert: str | None) -> str | None:
        return "edge-small" if expert else None


class FakeCloud:
    def __init__(self, fail: Exception | None = None) -> None:
        self.fail = fail
        self.bodies: list[dict[str, Any]] = []

    async def complete(self, body: dict[str, Any]) -> CloudAnswer:
        self.bodies.append(body)
        if self.fail is not None:
            raise self.fail
        return CloudAnswer(completion('{"city": "Oslo"}'), latency_s=0.2, cost_usd=0.001,
                           input_tokens=10, output_tokens=5)

    async def stream(self, body: dict[str, Any]) -> CloudStream:
        self.bodies.append(body)

        async def chunks() -> AsyncIterator[bytes]:
            yield b'{"choices": [{"index": 0, "delta": {"content": "hi"}}]}'
            yield b"[DONE]"
            out.assembled = completion('{"city": "Oslo"}')

        out = CloudStream(chunks=chunks(), ttfb_s=0.01)
        return out


def build(draft: EdgeDraft | Exception, cloud: FakeCloud | None = None, **routing: Any) -> tuple[ChatService, list[dict[str, Any]], FakeCloud]:
    settings = Settings(network={"probes_enabled": False}, routing=routing,
                        edge={"model": "edge-small"}, cloud={"model": "cloud-large"})
    records: list[dict[str, Any]] = []
    cloud = cloud or FakeCloud()
    inputs = LiveInputs(settings, StaticNetwork(LinkEstimate(0.05, 12.5e6)))
    service = ChatService(settings, experts=FakeExperts(draft), cloud=cloud,  # type: ignore[arg-type]
                          inputs=inputs, metrics=GatewayMetrics(),
                          sink=SimpleNamespace(submit=records.append))  # type: ignore[arg-type]
    return service, records, cloud


def request(**extra: Any) -> tuple[dict[str, Any], Any, RequestInfo]:
    raw = {"model": "auto", "messages": [{"role": "user", "content": "Weather in Oslo?"}],
           "tools": TOOLS, **extra}
    return raw, parse_request(raw), RequestInfo("req-1", 200)


def draft(arguments: str, logprob: float = -0.01) -> EdgeDraft:
    return EdgeDraft(completion(arguments, logprob), [logprob] * 4, latency_s=0.05, response_bytes=300)


async def test_a_confident_valid_draft_is_the_answer() -> None:
    service, records, cloud = build(draft('{"city": "Oslo"}'), q_cloud=0.5)
    outcome = await service.handle(*request())
    assert outcome.status == 200 and outcome.error is None
    assert outcome.headers["x-netgpt-route"] == "edge"
    assert outcome.headers["x-netgpt-reason"] == "score_above_threshold"
    assert outcome.headers["x-netgpt-expert"] == "e1"
    assert float(outcome.headers["x-netgpt-score"]) >= float(outcome.headers["x-netgpt-threshold"])
    assert outcome.response is not None and outcome.response["choices"][0]["logprobs"] is None
    assert cloud.bodies == [] and records == []


async def test_a_schema_invalid_draft_goes_to_the_cloud_and_is_recorded() -> None:
    service, records, cloud = build(draft('{"town": "Oslo"}'))
    outcome = await service.handle(*request())
    assert outcome.headers["x-netgpt-route"] == "cloud"
    assert outcome.headers["x-netgpt-reason"] == "schema_invalid"
    assert cloud.bodies[0]["model"] == "cloud-large"
    assert [r["kind"] for r in records] == ["routed"]
    assert records[0]["edge_draft"]["schema_valid"] is False
    assert records[0]["models"] == {"edge": "edge-small", "cloud": "cloud-large"}


async def test_forced_cloud_asks_no_edge() -> None:
    service, _, _ = build(draft('{"city": "Oslo"}'))
    raw, parsed, info = request(model="cloud")
    outcome = await service.handle(raw, parsed, info)
    assert outcome.headers["x-netgpt-reason"] == "forced"
    assert service.drafter.experts.bodies == []  # type: ignore[attr-defined]


async def test_a_forced_edge_that_fails_is_logged_for_the_operator(caplog) -> None:
    service, _, _ = build(UpstreamConnectError("edge", "edge refused"))
    with caplog.at_level(logging.WARNING, logger="netgpt.request"):
        outcome = await service.handle(*request(model="edge"))
    assert outcome.status == 503
    failed = [r for r in caplog.records if r.getMessage().startswith("request failed")]
    assert len(failed) == 1 and "edge refused" in failed[0].getMessage()
    assert (failed[0].route, failed[0].reason, failed[0].status) == ("edge", "forced", 503)
    assert failed[0].code == "upstream_unreachable"


async def test_a_failed_cloud_answers_with_the_usable_draft() -> None:
    service, _, _ = build(draft('{"city": "Oslo"}', logprob=-3.0), cloud=FakeCloud(
        fail=UpstreamConnectError("cloud", "refused")), q_cloud=1.0)
    outcome = await service.handle(*request())
    assert (outcome.headers["x-netgpt-route"], outcome.headers["x-netgpt-reason"]) == ("edge", "cloud_unavailable")


async def test_edge_down_and_cloud_down_is_one_error_naming_both() -> None:
    service, _, _ = build(UpstreamConnectError("edge", "edge refused"),
                          cloud=FakeCloud(fail=UpstreamConnectError("cloud", "cloud refused")))
    outcome = await service.handle(*request())
    assert outcome.status >= 500 and outcome.error is not None
    message = outcome.error["error"]["message"]
    assert "edge refused" in message and "cloud refused" in message


async def test_a_relayed_cloud_stream_records_the_pair_before_it_ends() -> None:
    service, records, _ = build(draft('{"town": "Oslo"}'))
    outcome = await service.handle(*request(stream=True))
    assert outcome.items is not None and outcome.response is None
    items = [item async for item in outcome.items]
    assert items == [b'{"choices": [{"index": 0, "delta": {"content": "hi"}}]}']
    assert not any(isinstance(i, StreamError) for i in items)
    assert [r["kind"] for r in records] == ["routed"]


async def test_the_request_context_is_built_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []
    real = schema_guard.tool_schemas

    def counting(tools: Any) -> Any:
        calls.append(tools)
        return real(tools)

    monkeypatch.setattr(chat_module, "tool_schemas", counting)
    service, records, _ = build(draft('{"town": "Oslo"}'))
    await service.handle(*request())
    assert len(calls) == 1 and len(records) == 1  # prepare computed it; the record reused it


async def test_the_edge_gets_the_request_itself_unless_the_offload_tool_is_added() -> None:
    service, _, _ = build(draft('{"city": "Oslo"}'), offload_enabled=False)
    raw, parsed, info = request()
    await service.handle(raw, parsed, info)
    assert service.drafter.experts.bodies[0] is raw  # type: ignore[attr-defined]

    service, _, _ = build(draft('{"city": "Oslo"}'), offload_enabled=True)
    raw, parsed, info = request()
    await service.handle(raw, parsed, info)
    sent = service.drafter.experts.bodies[0]  # type: ignore[attr-defined]
    assert len(sent["tools"]) == 2 and len(raw["tools"]) == 1  # the client's request untouched
