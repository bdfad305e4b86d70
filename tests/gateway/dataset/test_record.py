"""The versioned record model and the request hash."""

from __future__ import annotations

import copy

import pytest
from pydantic import ValidationError

from gateway.dataset.record import DatasetRecord, decode, encode, request_hash
from tests.support.factories import make_record


def test_round_trip_keeps_every_field() -> None:
    raw = make_record(1)
    raw["edge_draft"]["samples"] = {"k": 4, "agreement": 0.5, "name_agreement": 0.75,
                                     "distinct": 0.6}
    record = DatasetRecord.model_validate(raw)
    assert record.schema_version == 3
    again = decode(encode(record))
    assert again == record
    assert again.request["temperature"] == 0.1  # unknown request fields are kept


@pytest.mark.parametrize(
    "change",
    [
        lambda r: r.update(extra_field=1),
        lambda r: r["tokens"].update(cached=3),
        lambda r: r.update(kind="other"),
        lambda r: r.update(schema_version=4),
        lambda r: r["edge_draft"].update(n_tokens=-1),
        lambda r: r["edge_draft"].update(samples={"k": 0, "agreement": 0, "name_agreement": 0,
                                                  "distinct": 0}),
        lambda r: r["edge_draft"].update(samples={"k": 2, "agreement": 1.5, "name_agreement": 1,
                                                  "distinct": 0.5}),
        lambda r: r["edge_draft"].update(samples={"k": 2, "agreement": 1, "name_agreement": 1,
                                                  "distinct": 0.5, "seed": 3}),
        lambda r: r.pop("request"),
    ],
)
def test_schema_is_strict(change) -> None:
    raw = make_record(1)
    change(raw)
    with pytest.raises(ValidationError):
        DatasetRecord.model_validate(raw)


def test_optional_parts_may_be_null() -> None:
    raw = make_record(2, edge_draft=None, cloud_response=None, score=None, threshold=None)
    raw["latency"] = {"edge_s": None, "cloud_s": None, "total_s": 0.1}
    assert DatasetRecord.model_validate(raw).cloud_response is None


def test_request_hash_ignores_what_does_not_change_the_task() -> None:
    base = make_record(3)["request"]
    same = copy.deepcopy(base)
    same["temperature"] = 1.3
    same["model"] = "cloud"
    same["messages"][1]["content"] = "  What is the   weather in City3? "
    same["tools"] = list(reversed(same["tools"]))
    assert request_hash(same) == request_hash(base)

    other = copy.deepcopy(base)
    other["messages"][1]["content"] = "What is the weather in City4?"
    assert request_hash(other) != request_hash(base)
    fewer_tools = copy.deepcopy(base)
    fewer_tools["tools"] = fewer_tools["tools"][:1]
    assert request_hash(fewer_tools) != request_hash(base)


def test_request_hash_ignores_earlier_tool_call_ids() -> None:
    def with_history(call_id: str, arguments: str) -> dict:
        request = make_record(5)["request"]
        request["messages"] += [
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": call_id, "type": "function",
                 "function": {"name": "get_weather", "arguments": arguments}}]},
            {"role": "tool", "tool_call_id": call_id, "content": "sunny"},
        ]
        return request

    a = with_history("call_a", '{"city": "X", "unit": "celsius"}')
    b = with_history("call_b", '{"unit":"celsius","city":"X"}')
    assert request_hash(a) == request_hash(b)
    c = with_history("call_c", '{"city": "Y", "unit": "celsius"}')
    assert request_hash(c) != request_hash(a)


def test_version_1_records_still_read() -> None:
    raw = make_record(1)
    raw["schema_version"] = 1
    raw["edge_draft"].pop("n_tokens", None)
    record = DatasetRecord.model_validate(raw)
    assert record.schema_version == 1 and record.edge_draft is not None
    assert record.edge_draft.n_tokens is None


def test_version_2_records_without_samples_still_read() -> None:
    raw = make_record(1)
    raw["schema_version"] = 2
    record = DatasetRecord.model_validate(raw)
    assert record.schema_version == 2 and record.edge_draft is not None
    assert record.edge_draft.samples is None
