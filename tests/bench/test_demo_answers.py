"""Replayed answers agree with the outcomes they replay, as the gateway's schema guard and the
demo's BFCL-style check see them; the check itself on hand-made cases."""

from __future__ import annotations

import json
import random
from dataclasses import replace

from bench.common.answers import answer_calls, build_replays, confidence
from bench.common.bfcl import Outcome, Request
from bench.common.correct import is_correct
from bench.common.drafts import schema_catchable
from bench.demo.synthetic import synthetic_requests
from gateway.routing.schema_guard import ValidatorCache, check_tool_calls, tool_schemas

EDGE = "Salesforce_xLAM-1b-fc-r"


def _call(name: str, **args: object) -> dict:
    return {
        "id": "c",
        "type": "function",
        "function": {"name": name, "arguments": json.dumps(args)},
    }


def test_answers_are_right_or_wrong_the_way_the_outcome_says() -> None:
    requests = synthetic_requests(n=300, seed=3)
    cache = ValidatorCache()
    seen = {"right": 0, "caught": 0, "valid_wrong": 0}
    for request in requests:
        for outcome in (request.edge, request.cloud):
            calls = answer_calls(request, outcome)
            valid = check_tool_calls(calls, tool_schemas(request.tools), cache).valid
            if outcome.correct:
                assert is_correct(request, calls), request.prompt_id
                seen["right"] += 1
            elif schema_catchable(outcome.error_type):
                assert not valid, (request.prompt_id, outcome.error_type)
                seen["caught"] += 1
            else:
                assert valid and not is_correct(request, calls), (request.prompt_id, outcome)
                seen["valid_wrong"] += 1
    assert all(n > 5 for n in seen.values()), seen


def test_relevance_right_is_no_call_and_wrong_is_a_call() -> None:
    request = next(r for r in synthetic_requests(n=200) if r.ground_truth is None)
    right = replace(request, edge=Outcome(True, "", None, 10, 10))
    wrong = Outcome(False, "relevance_error:decoder_success", None, 10, 10)
    assert answer_calls(right, right.edge) == []
    assert is_correct(request, [])
    calls = answer_calls(request, wrong)
    assert calls and not is_correct(request, calls)


def test_confidence_separates_right_from_wrong_and_replays_are_reproducible() -> None:
    requests = synthetic_requests(n=200, seed=1)
    a = build_replays(requests, auc=0.9, seed=5, edge_model=EDGE)
    b = build_replays(requests, auc=0.9, seed=5, edge_model=EDGE)
    assert [r.edge_confidence for r in a.values()] == [r.edge_confidence for r in b.values()]
    right = [r.edge_confidence for r in a.values() if r.request.edge.correct]
    wrong = [r.edge_confidence for r in a.values() if not r.request.edge.correct]
    assert sum(right) / len(right) > sum(wrong) / len(wrong) + 0.1
    assert all(0.0 < r.edge_latency_s < 5.0 for r in a.values())
    assert next(iter(a.values())).body["x_replay_id"] == requests[0].prompt_id
    rng = random.Random(0)
    assert all(0.0 < confidence(True, 0.8, rng) < 1.0 for _ in range(100))


def _request(truth: dict | None, category: str = "simple") -> Request:
    props = {
        "city": {"type": "string"},
        "n": {"type": "number"},
        "unit": {"type": "string"},
        "x": {"type": "integer"},
    }
    params = {"type": "object", "properties": props, "required": []}
    tool = {"type": "function", "function": {"name": "f", "parameters": params}}
    outcome = Outcome(True, "", None, None, None)
    return Request("p", category, "q", (tool,), truth, outcome, outcome)


def test_check_follows_bfcl_rules() -> None:
    r = _request({"f": {"city": ["Paris", "paris, france"], "n": [2.0], "unit": ["", "c"]}})
    assert is_correct(r, [_call("f", city="PARIS ", n=2)])  # case, trim, int for float
    assert is_correct(r, [_call("f", city="Paris", n=2.0, unit="c")])
    assert not is_correct(r, [_call("f", city="Rome", n=2)])  # a wrong value
    assert not is_correct(r, [_call("f", n=2)])  # a required one missing
    assert not is_correct(r, [_call("f", city="Paris", n=2, extra=1)])  # an unknown one
    assert not is_correct(r, [_call("g", city="Paris", n=2)])  # another function
    assert not is_correct(r, [])
    bad_json = [{"function": {"name": "f", "arguments": "{"}}]
    assert not is_correct(r, bad_json)


def test_check_matches_parallel_calls_in_any_order_and_relevance() -> None:
    r = _request({"f_1": {"x": [1]}, "f_2": {"x": [2]}}, "parallel_function")
    assert is_correct(r, [_call("f", x=2), _call("f", x=1)])
    assert not is_correct(r, [_call("f", x=1), _call("f", x=1)])
    assert not is_correct(r, [_call("f", x=1)])
    assert is_correct(_request(None, "relevance"), [])
    assert not is_correct(_request(None, "relevance"), [_call("f", x=1)])


def test_recorded_outputs_replace_the_rebuilt_answers_where_the_data_has_them(tmp_path) -> None:
    from bench.common.replay import CATEGORIES

    requests = synthetic_requests(n=40, seed=2)
    first, second = requests[0], requests[1]
    for model, rows in (
        (EDGE, [{"id": first.prompt_id, "result": '[{"name": "lookup", "arguments": {"q": 1}}]'},
                {"id": second.prompt_id, "result": "I cannot call anything: {not json"}]),
        ("gpt-4o-2024-08-06-FC", [{"id": first.prompt_id, "result": [{"lookup": '{"q": 2}'}],
                                   "input_token_count": 50, "output_token_count": 7, "latency": 0.75}]),
    ):
        folder = tmp_path / "outcomes" / "results" / model
        folder.mkdir(parents=True)
        for category in CATEGORIES:
            path = folder / f"gorilla_openfunctions_v1_test_{category}_result.json"
            path.write_text("\n".join(json.dumps(r) for r in rows) if category == "simple" else "")
    replays = build_replays(requests, auc=0.9, seed=5, edge_model=EDGE, data=tmp_path,
                            cloud_model="gpt-4o-2024-08-06-FC")
    one, two = replays[first.prompt_id], replays[second.prompt_id]
    assert one.recorded and one.edge_calls[0]["function"]["name"] == "lookup"
    assert json.loads(one.edge_calls[0]["function"]["arguments"]) == {"q": 1}
    assert json.loads(one.cloud_calls[0]["function"]["arguments"]) == {"q": 2}
    assert one.cloud_latency_s == 0.75  # the cloud's recorded latency
    # the parser rejected the reply: text without calls, as from a real server
    assert two.edge_calls == [] and two.edge_text and "not json" in two.edge_text
    rebuilt = build_replays(requests, auc=0.9, seed=5, edge_model=EDGE)
    assert not rebuilt[first.prompt_id].recorded  # no data: the rebuilt replay
