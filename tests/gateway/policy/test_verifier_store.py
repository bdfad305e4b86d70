"""The verifier store: examples from logged records, the fit, where it is kept (file, Redis),
and that a fitted verifier changes what the gateway decides."""

from __future__ import annotations

import json
from typing import Any

import pytest
from redis import Redis as SyncRedis
from redis.asyncio import Redis

from gateway.config import Settings
from gateway.policy.verifier_store import VerifierHolder, example, fit_records, request_only_score
from gateway.routing.verifier import VerifierError, VerifierModel, extract
from tests.gateway.service.test_chat_service import build, draft, request

TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]


def record(i: int, edge_city: str, cloud_city: str, edge_model: str = "edge-small") -> dict[str, Any]:
    def call(city: str) -> dict[str, Any]:
        return {"id": f"c{i}", "type": "function",
                "function": {"name": "get_weather", "arguments": json.dumps({"city": city})}}

    return {
        "id": f"r{i}:routed", "reason": "score_below_threshold",
        "request": {"messages": [{"role": "user", "content": f"Weather in {cloud_city} today?"}],
                    "tools": TOOLS},
        "edge_draft": {"message": {"role": "assistant", "tool_calls": [call(edge_city)]},
                       "schema_valid": True, "mean_logprob": -0.2, "min_logprob": -1.5, "n_tokens": 12},
        "cloud_response": {"message": {"role": "assistant", "tool_calls": [call(cloud_city)]}},
        "models": {"edge": edge_model, "cloud": "cloud-large"},
    }


def records(n: int) -> list[dict[str, Any]]:
    cities = ["Oslo", "Lima", "Rome", "Pune", "Kyiv", "Doha", "Baku", "Riga"]
    out = []
    for i in range(n):
        asked = cities[i % len(cities)]
        # half the drafts took the city the user named (agree), half another one (disagree)
        out.append(record(i, asked if i % 2 == 0 else cities[(i + 3) % len(cities)], asked))
    return out


def settings(tmp_path: Any, **verifier: Any) -> Settings:
    return Settings(data_dir=tmp_path, verifier={"min_records": 10, **verifier},
                    network={"probes_enabled": False})


def test_an_example_is_features_and_whether_the_edge_made_the_clouds_calls() -> None:
    agree, disagree = record(0, "Oslo", "Oslo"), record(1, "Lima", "Oslo")
    x, label = example(agree, "edge-small")  # type: ignore[misc]
    assert label is True and len(x) == len(extract([], [], None))
    assert example(disagree, "edge-small")[1] is False  # type: ignore[index]
    assert example(agree, "another-model") is None  # another edge model's record
    invalid = record(2, "Oslo", "Oslo")
    invalid["edge_draft"]["schema_valid"] = False
    assert example(invalid, "edge-small") is None
    assert example({"request": {}, "models": {"edge": "edge-small"}}, "edge-small") is None


def test_too_few_pairs_or_one_outcome_refuse_to_fit(tmp_path: Any) -> None:
    with pytest.raises(VerifierError, match="need 10"):
        fit_records(records(4), settings(tmp_path), "edge-small")
    same = [record(i, "Oslo", "Oslo") for i in range(20)]
    with pytest.raises(VerifierError, match="both outcomes"):
        fit_records(same, settings(tmp_path), "edge-small")


def test_the_fit_learns_grounding_and_round_trips_through_file_and_redis(tmp_path: Any) -> None:
    full, request_only = fit_records(records(40), settings(tmp_path), "edge-small")
    good = extract(records(1)[0]["request"]["messages"], TOOLS, records(1)[0]["edge_draft"]["message"]["tool_calls"])
    bad_record = record(1, "Lima", "Oslo")
    bad = extract(bad_record["request"]["messages"], TOOLS, bad_record["edge_draft"]["message"]["tool_calls"])
    assert full.score(good) > 0.7 > 0.3 > full.score(bad)
    again = VerifierModel.from_json(full.to_json(), edge_model="edge-small")
    assert again.score(good) == full.score(good) and again.score(bad) == full.score(bad)
    # the request-only part reads the request columns alone: scored before any draft (zeros
    # for the rest) it gives what it gives on the full vectors of either draft
    n = len(request_only.features)
    before = request_only_score(request_only, good[:n])
    assert before == request_only.score(good) == request_only.score(bad)
    assert 0.0 < before < 1.0


async def test_refit_stores_for_every_replica_and_a_second_holder_scores_the_same(tmp_path: Any) -> None:
    key = f"netgpt:test:verifier:{tmp_path.name}"
    stream = f"netgpt:test:pairs:{tmp_path.name}"
    sync = SyncRedis.from_url("redis://127.0.0.1:6379/0")
    for rec in records(40):
        sync.xadd(stream, {"record": json.dumps(rec)})
    redis = Redis.from_url("redis://127.0.0.1:6379/0")
    try:
        s = settings(tmp_path, redis_key=key).model_copy(
            update={"dataset": Settings().dataset.model_copy(update={"stream_key": stream})})
        first = VerifierHolder(s)
        assert first.model_for("edge-small") is None
        meta = await first.refit(redis, "edge-small")
        assert meta["refit"] is True and meta["n"] == 40
        assert s.verifier_file.exists()
        second = VerifierHolder(settings(tmp_path / "other", redis_key=key))
        await second.load_shared(redis)
        x = extract(records(1)[0]["request"]["messages"], TOOLS, None)
        a, b = first.model_for("edge-small"), second.model_for("edge-small")
        assert a is not None and b is not None and a.score(x) == b.score(x)
        assert second.model_for("another-model") is None  # a fit is for one edge model
        third = VerifierHolder(s)
        third.load()  # from the file
        assert third.model_for("edge-small") is not None and third.request_model_for("edge-small") is not None
    finally:
        sync.delete(key, key + ":request", stream)
        sync.close()
        await redis.aclose()


def _install(service: Any, model: VerifierModel, request_model: VerifierModel | None = None) -> VerifierHolder:
    holder = VerifierHolder(Settings(verifier={"skip_margin": 0.05}))
    holder._install(model, {"loaded": True}, request_model)
    service.judge.verifier = holder
    service.drafter.verifier = holder
    service.drafter.skip_margin = holder.settings.verifier.skip_margin
    return holder


def grounding_model() -> VerifierModel:
    # P(acceptable) high when the draft's values appear in the request, low when they do not
    return VerifierModel("edge-small", ("draft_values_grounded",), (0.5,), (0.5,), (4.0,), 0.0)


async def test_a_fitted_verifier_changes_the_route() -> None:
    # a confident draft (log-probs near 0) that names a city the user never mentioned
    service, _, _ = build(draft('{"city": "Paris"}', logprob=-0.01), q_cloud=0.6)
    before = await service.handle(*request())
    assert before.headers["x-netgpt-route"] == "edge"  # the log-prob score trusts it
    _install(service, grounding_model())
    after = await service.handle(*request())
    assert (after.headers["x-netgpt-route"], after.headers["x-netgpt-reason"]) == (
        "cloud", "score_below_threshold")
    assert float(after.headers["x-netgpt-score"]) < 0.1
    grounded, _, _ = build(draft('{"city": "Oslo"}', logprob=-0.01), q_cloud=0.6)
    _install(grounded, grounding_model())
    assert (await grounded.handle(*request())).headers["x-netgpt-route"] == "edge"


async def test_the_pre_draft_skip_sends_hopeless_requests_straight_to_the_cloud() -> None:
    service, records_, _ = build(draft('{"city": "Oslo"}'), q_cloud=0.9)
    hopeless = VerifierModel("edge-small", ("req_tools",), (0.0,), (1.0,), (0.0,), -5.0)
    _install(service, grounding_model(), hopeless)
    outcome = await service.handle(*request())
    assert outcome.headers["x-netgpt-reason"] == "edge_skipped"
    assert service.drafter.experts.bodies == []  # type: ignore[attr-defined]
    assert len(records_) == 1  # the cloud's pair is still logged


async def test_the_gateway_loads_a_stored_verifier_and_routes_with_it(
    app_client_factory: Any, make_settings: Any, tmp_path: Any
) -> None:
    from tests.conftest import chat_body

    plain = await app_client_factory(make_settings(routing={"q_cloud": 0.5}))
    response = await plain.http.post("/v1/chat/completions", json=chat_body())
    assert response.headers["x-netgpt-route"] == "edge"

    s = make_settings(routing={"q_cloud": 0.5}, data_dir=tmp_path / "with-verifier")
    s.verifier_file.parent.mkdir(parents=True, exist_ok=True)
    doubtful = VerifierModel("edge-small", ("req_tools",), (0.0,), (1.0,), (0.0,), -5.0)
    s.verifier_file.write_text(doubtful.to_json())
    gw = await app_client_factory(s)
    response = await gw.http.post("/v1/chat/completions", json=chat_body())
    assert response.status_code == 200
    assert (response.headers["x-netgpt-route"], response.headers["x-netgpt-reason"]) == (
        "cloud", "score_below_threshold")
    assert float(response.headers["x-netgpt-score"]) == pytest.approx(doubtful.score_named({}), abs=1e-3)
    state = (await gw.http.get("/v1/router/state")).json()
    assert state["verifier"]["loaded"] is True and state["verifier"]["edge_model"] == "edge-small"
