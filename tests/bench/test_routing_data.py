from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.common.bfcl import (
    DataError,
    check_data_dir,
    ground_truth_calls,
    load_requests,
    to_json_schema,
)
from bench.common.drafts import check_request, rebuild_draft
from bench.common.traces import load_mahimahi, load_trace, load_ucc, modelled_rtt, trace_files
from gateway.routing.schema_guard import ValidatorCache
from tests.bench.conftest import CLOUD, EDGE


def test_bfcl_types_become_json_schema():
    schema = to_json_schema(
        {
            "type": "dict",
            "properties": {
                "x": {"type": "float"},
                "t": {"type": "tuple", "items": {"type": "any"}},
                "o": {"type": "string", "optional": True},
            },
            "required": ["x"],
        }
    )
    assert schema == {
        "type": "object",
        "properties": {
            "x": {"type": "number"},
            "t": {"type": "array", "items": {}},
            "o": {"type": "string"},
        },
        "required": ["x"],
    }


def test_missing_data_dir_says_how_to_pass_it(tmp_path: Path):
    with pytest.raises(DataError, match="--data"):
        check_data_dir(tmp_path)


def test_requests_join_both_models_outcomes(dataset: Path):
    requests = load_requests(dataset, EDGE, CLOUD)
    assert len(requests) == 60
    first = requests[0]
    assert first.tools[0]["function"]["name"] == "weather_get"  # '.' is not allowed by OpenAI
    assert first.cloud.latency_s is not None and first.edge.latency_s is None
    with pytest.raises(DataError, match="no recorded latency"):
        load_requests(dataset, EDGE, EDGE)


def test_parallel_answers_map_suffixed_names_to_the_offered_tool(dataset: Path):
    request = next(
        r for r in load_requests(dataset, EDGE, CLOUD) if r.category == "parallel_function"
    )
    calls = ground_truth_calls(request)
    assert [name for name, _ in calls] == ["weather_get", "weather_get"]
    assert calls[0][1] == {"city": "Oslo", "days": 3}


def test_schema_guard_catches_exactly_the_catchable_error_types(dataset: Path):
    cache = ValidatorCache()
    seen = {}
    for request in load_requests(dataset, EDGE, CLOUD):
        verdict = check_request(request, cache)
        if request.edge.correct:
            assert verdict.valid, request.prompt_id
        else:
            seen[request.edge.error_type] = verdict
    assert not seen["simple_function_checker:wrong_func_name"].valid
    assert seen["simple_function_checker:wrong_func_name"].check.error == "wrong_function_name"
    assert (
        seen["simple_function_checker:missing_required"].check.error == "missing_required_argument"
    )
    assert seen["type_error:simple"].check.error == "wrong_argument_type"
    assert seen["ast_decoder:decoder_failed"].check.error == "unparsable_arguments"
    assert seen["value_error:string"].valid  # a wrong value is not a schema error
    assert seen["relevance_error:decoder_success"].valid


def test_a_correct_relevance_answer_makes_no_call(dataset: Path):
    request = next(
        r
        for r in load_requests(dataset, EDGE, CLOUD)
        if r.category == "relevance" and r.edge.correct
    )
    assert rebuild_draft(request) == []


def test_mahimahi_throughput_counts_delivery_opportunities(dataset: Path):
    trace = load_mahimahi(trace_files(dataset, "mahimahi_cellular")[0])
    mbps = trace.bandwidth * 8 / 1e6
    assert mbps[0] == pytest.approx(24.0)  # 2000 packets × 12,000 bit in one second
    assert mbps[1] == pytest.approx(12.0)
    assert not trace.rtt_measured


def test_ucc_ping_is_held_until_the_next_measurement(dataset: Path):
    trace = load_ucc(trace_files(dataset, "ucc_5g")[0])
    assert trace.rtt_measured
    assert trace.rtt[0] == pytest.approx(0.060)  # head back-filled with the first ping
    assert trace.rtt[17] == pytest.approx(0.060)
    assert trace.rtt[18] == pytest.approx(0.070)


def test_modelled_rtt_grows_as_bandwidth_falls(dataset: Path):
    bw = np.array([1e4, 1e5, 1e6])
    rtt = modelled_rtt("norway_3g", bw)
    assert np.all(np.diff(rtt) < 0)
    trace = load_trace(trace_files(dataset, "norway_3g")[0], "norway_3g")
    bandwidth, rtt_at = trace.at(np.array([0.0, 2.5]))
    assert bandwidth[1] == trace.bandwidth[2] and rtt_at[1] == trace.rtt[2]
