"""Self-consistency in the request path (``NETGPT_EDGE_SAMPLES``): the draft stage asks the
drafting expert for k sampled drafts beside the greedy one, their agreement reaches the
verifier's ``sc_`` features and the dataset record, and a failing or late sample never fails
the request. In-process, with fakes of the placement port whose sampled answer has
llama-server's shape for ``n`` > 1 (one chat.completion, one choice per sample)."""

from __future__ import annotations

import asyncio
import copy
import json
from types import SimpleNamespace
from typing import Any

import pytest

from gateway.config import Settings
from gateway.errors import UpstreamStatusError, UpstreamTimeout
from gateway.metrics import GatewayMetrics
from gateway.network.static import StaticNetwork
from gateway.policy.inputs import LiveInputs
from gateway.policy.verifier_store import VerifierHolder, example
from gateway.ports import EdgeDraft
from gateway.routing.state import LinkEstimate
from gateway.routing.verifier import FEATURE_NAMES, SampleSummary, VerifierModel
from gateway.service import ChatService
from tests.gateway.service.test_chat_service import FakeCloud, FakeExperts, draft, request


def sampled(*cities: str | None) -> EdgeDraft:
    """llama-server's answer to a request with ``n`` = len(cities): the choices of one
    chat.completion (None: a sample that answered in prose, without a call)."""
    choices = []
    for i, city in enumerate(cities):
        message: dict[str, Any] = {"role": "assistant", "content": "I think it rains."}
        if city is not None:
            message = {"role": "assistant", "content": "", "tool_calls": [{
                "type": "function",
                "function": {"name": "get_weather", "arguments": json.dumps({"city": city})},
                "id": f"jJYOpFq5ZVeGA3ScP0DAoZch5Q5Vpxx{i}"}]}
        token = {"id": 39428, "token": '{"', "bytes": [123, 34], "logprob": -0.15}
        choices.append({"finish_reason": "tool_calls" if city else "stop", "index": i,
                        "message": message,
                        "logprobs": {"content": [{**token, "top_logprobs": [token]}]}})
    # as llama-server answered n = 3 (captured): usage and timings are the first choice's
    response = {"choices": choices, "created": 1796608241, "model": "smollm2",
                "system_fingerprint": "b0-unknown", "object": "chat.completion",
                "usage": {"completion_tokens": 28, "prompt_tokens": 230, "total_tokens": 258,
                          "prompt_tokens_details": {"cached_tokens": 229}},
                "id": "chatcmpl-FYu3I9ov1lT7nMbq4K2RByC0fvB5jMOU",
                "timings": {"cache_n": 229, "prompt_n": 1, "prompt_ms": 24.384,
                            "prompt_per_token_ms": 24.384, "prompt_per_second": 41.01,
                            "predicted_n": 28, "predicted_ms": 1833.703,
                            "predicted_per_token_ms": 67.91, "predicted_per_second": 14.72}}
    return EdgeDraft(response, [-0.4], latency_s=0.3, response_bytes=900)


class SamplingExperts(FakeExperts):
    """The placement port with ``sample``: a fixed answer, an error, or a delay first."""

    def __init__(self, greedy: EdgeDraft, samples: EdgeDraft | Exception,
                 delay_s: float = 0.0) -> None:
        super().__init__(greedy)
        self.samples = samples
        self.delay_s = delay_s
        self.sample_calls: list[tuple[dict[str, Any], int, float, int]] = []
        self.cancelled = False

    async def draft(self, plan: Any, body: dict[str, Any]) -> EdgeDraft:
        await asyncio.sleep(0.01)  # the samples' request is on its way meanwhile
        return await super().draft(plan, body)

    async def sample(self, plan: Any, body: dict[str, Any], n: int, temperature: float,
                     seed: int) -> EdgeDraft:
        self.sample_calls.append((body, n, temperature, seed))
        try:
            await asyncio.sleep(self.delay_s)
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        if isinstance(self.samples, Exception):
            raise self.samples
        return self.samples


def build(experts: FakeExperts, *, samples: int = 3, wait_s: float = 1.0,
          **routing: Any) -> tuple[ChatService, list[dict[str, Any]], GatewayMetrics]:
    settings = Settings(network={"probes_enabled": False}, routing=routing,
                        edge={"model": "edge-small", "samples": samples,
                              "sample_temperature": 0.9, "sample_wait_s": wait_s},
                        cloud={"model": "cloud-large"})
    records: list[dict[str, Any]] = []
    metrics = GatewayMetrics()
    service = ChatService(settings, experts=experts, cloud=FakeCloud(),  # type: ignore[arg-type]
                          inputs=LiveInputs(settings, StaticNetwork(LinkEstimate(0.05, 12.5e6))),
                          metrics=metrics, sink=SimpleNamespace(submit=records.append))  # type: ignore[arg-type]
    return service, records, metrics


def outcomes(metrics: GatewayMetrics) -> dict[str, float]:
    get = metrics.registry.get_sample_value
    return {o: get("netgpt_edge_samples_total", {"outcome": o}) or 0.0
            for o in ("drawn", "failed", "late")}


def to_cloud() -> dict[str, Any]:
    # q_cloud 1, no latency or cost terms: tau = 1, so the draft is routed to the cloud and logged
    return {"q_cloud": 1.0, "lambda_latency": 0.0, "lambda_cost": 0.0}


async def test_k_samples_are_asked_beside_the_draft_and_logged_in_the_record() -> None:
    experts = SamplingExperts(draft('{"city": "Oslo"}'), sampled("Oslo", "oslo", "Lima"))
    service, records, metrics = build(experts, **to_cloud())
    outcome = await service.handle(*request())
    assert outcome.headers["x-netgpt-route"] == "cloud"
    [(body, n, temperature, seed)] = experts.sample_calls
    assert (n, temperature) == (3, 0.9) and 0 <= seed < 2**31
    assert body == experts.bodies[0]  # the same request the greedy draft was asked
    [record] = records
    # "oslo" agrees after BFCL's string rules; "Lima" does not
    assert record["edge_draft"]["samples"] == {
        "k": 3, "agreement": pytest.approx(2 / 3), "name_agreement": 1.0, "distinct": 0.5}
    assert outcomes(metrics) == {"drawn": 1.0, "failed": 0.0, "late": 0.0}
    # the refit reads them back: the logged record teaches the sc_ features
    record["models"] = {"edge": "edge-small", "cloud": "cloud-large"}
    x, _ = example(record, "edge-small")  # type: ignore[misc]
    named = dict(zip(FEATURE_NAMES, x, strict=True))
    assert named["sc_present"] == 1.0 and named["sc_agreement"] == pytest.approx(2 / 3)


async def test_the_seed_follows_the_request_id() -> None:
    experts = SamplingExperts(draft('{"city": "Oslo"}'), sampled("Oslo"))
    service, _, _ = build(experts, samples=1)
    raw, parsed, info = request()
    await service.handle(raw, parsed, info)
    await service.handle(raw, parsed, info)
    info.request_id = "another"
    await service.handle(raw, parsed, info)
    seeds = [call[3] for call in experts.sample_calls]
    assert seeds[0] == seeds[1] != seeds[2]


@pytest.mark.parametrize("failure", [
    UpstreamStatusError("edge", 400, "n must be <= the server's parallel slots"),
    UpstreamTimeout("edge", "timed out"),
])
async def test_a_failing_sample_never_fails_the_request(failure: Exception) -> None:
    experts = SamplingExperts(draft('{"city": "Oslo"}'), failure)
    service, records, metrics = build(experts, **to_cloud())
    outcome = await service.handle(*request())
    assert outcome.status == 200 and outcome.headers["x-netgpt-route"] == "cloud"
    assert records[0]["edge_draft"]["samples"] is None  # judged and logged without samples
    assert outcomes(metrics) == {"drawn": 0.0, "failed": 1.0, "late": 0.0}
    # a sample is not a draft: the edge's error counters saw nothing
    get = metrics.registry.get_sample_value
    assert get("netgpt_upstream_errors_total", {"upstream": "edge", "kind": "upstream_error"}) == 0.0


async def test_samples_later_than_the_wait_are_dropped_and_cancelled() -> None:
    experts = SamplingExperts(draft('{"city": "Oslo"}'), sampled("Oslo"), delay_s=5.0)
    service, records, metrics = build(experts, wait_s=0.05, **to_cloud())
    started = asyncio.get_running_loop().time()
    outcome = await service.handle(*request())
    assert asyncio.get_running_loop().time() - started < 2.0
    assert outcome.status == 200 and records[0]["edge_draft"]["samples"] is None
    assert experts.cancelled
    assert outcomes(metrics) == {"drawn": 0.0, "failed": 0.0, "late": 1.0}


async def test_samples_are_cancelled_when_the_draft_fails() -> None:
    experts = SamplingExperts(draft('{"city": "Oslo"}'), sampled("Oslo"), delay_s=5.0)
    experts.result = UpstreamTimeout("edge", "timed out")
    service, _, metrics = build(experts)
    outcome = await service.handle(*request())
    assert outcome.headers["x-netgpt-reason"] == "edge_unavailable"
    assert experts.cancelled and outcomes(metrics)["drawn"] == 0.0


@pytest.mark.parametrize("extra", [{"tool_choice": "none"}, {"tools": []}])
async def test_no_samples_where_no_call_can_come(extra: dict[str, Any]) -> None:
    experts = SamplingExperts(draft('{"city": "Oslo"}'), sampled("Oslo"))
    service, _, _ = build(experts)
    await service.handle(*request(**extra))
    assert experts.sample_calls == []


async def test_samples_off_by_default() -> None:
    experts = SamplingExperts(draft('{"city": "Oslo"}'), sampled("Oslo"))
    service, records, metrics = build(experts, samples=0, **to_cloud())
    await service.handle(*request())
    assert experts.sample_calls == [] and records[0]["edge_draft"]["samples"] is None
    assert sum(outcomes(metrics).values()) == 0.0


def agreement_model() -> VerifierModel:
    # P(acceptable) rises steeply with the share of samples that agree with the draft
    return VerifierModel("edge-small", ("sc_present", "sc_agreement"), (0.5, 0.5), (0.5, 0.5),
                         (0.0, 4.0), 0.0)


@pytest.mark.parametrize(("cities", "route"), [
    (("Oslo", "Oslo", "Oslo"), "edge"),
    (("Lima", "Rome", None), "cloud"),
])
async def test_a_verifier_with_sc_features_routes_on_the_samples(
    cities: tuple[str | None, ...], route: str
) -> None:
    experts = SamplingExperts(draft('{"city": "Oslo"}'), sampled(*cities))
    service, _, _ = build(experts, q_cloud=0.5)
    holder = VerifierHolder(Settings())
    holder._install(agreement_model(), {"loaded": True})
    service.judge.verifier = holder
    outcome = await service.handle(*request())
    assert outcome.headers["x-netgpt-route"] == route
    expected = agreement_model().score_named(
        {"sc_present": 1.0, "sc_agreement": 1.0 if route == "edge" else 0.0})
    assert float(outcome.headers["x-netgpt-score"]) == pytest.approx(expected, abs=1e-4)


def test_summary_round_trips_through_the_record_shape() -> None:
    summary = SampleSummary(k=4, agreement=0.5, name_agreement=0.75, distinct=0.6)
    assert SampleSummary.from_dict(copy.deepcopy(summary.to_dict())) == summary
