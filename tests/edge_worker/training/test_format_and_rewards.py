"""The pure parts: hermes parsing, the schema gate and rewards, the export reader, the toy task."""

from __future__ import annotations

import json

import pytest

from edge_worker.training.chat_format import OFFLOAD_TEXT, parse_hermes
from edge_worker.training.data import DataError, data_hash, load_split, parse_line
from edge_worker.training.rewards import (
    HierarchicalRewards,
    hierarchical_reward,
    judge,
    schema_reward,
)
from edge_worker.training.toy import TOOLS, toy_record, write_toy_dataset
from gateway.routing.schema_guard import ValidatorCache

REF = toy_record(0, "Oslo", "Weather in {city}?")["messages"][-1]


def call(name, arguments):
    return f'<tool_call>\n{{"name": "{name}", "arguments": {json.dumps(arguments)}}}\n</tool_call>'


def test_parse_hermes_reads_calls_and_content_like_vllm():
    parsed = parse_hermes("Sure." + call("get_weather", {"city": "Oslo"}) + call("get_time", {}))
    assert parsed.content == "Sure."
    assert [c["function"]["name"] for c in parsed.tool_calls] == ["get_weather", "get_time"]
    assert json.loads(parsed.tool_calls[0]["function"]["arguments"]) == {"city": "Oslo"}
    assert not parsed.parse_error and not parsed.offload
    # an unterminated call is still read (vLLM's regex allows a missing end tag)
    assert parse_hermes('<tool_call>{"name": "get_time", "arguments": {}}').tool_calls
    broken = parse_hermes("<tool_call>{not json</tool_call>")
    assert broken.parse_error and not broken.tool_calls
    assert parse_hermes(OFFLOAD_TEXT).offload


@pytest.mark.parametrize(
    ("text", "valid", "agrees", "reward"),
    [
        (call("get_weather", {"city": "Oslo"}), True, True, 1.0),
        (call("get_weather", {"city": "Rome"}), True, False, 0.5),  # gate + name, wrong argument
        (call("get_time", {"timezone": "UTC"}), True, False, 0.2),  # valid, wrong function
        (call("get_weather", {}), False, False, 0.0),  # required argument missing
        (call("get_weather", {"city": 3}), False, False, 0.0),  # wrong type
        (call("launch", {"city": "Oslo"}), False, False, 0.0),  # not an offered tool
        ("It is sunny.", False, False, 0.0),  # the cloud called a tool; text is not enough
        ("<tool_call>{oops</tool_call>", False, False, 0.0),
    ],
)
def test_schema_gate_and_agreement(text, valid, agrees, reward):
    j = judge(parse_hermes(text), REF, TOOLS, ValidatorCache())
    assert (j.valid, j.agrees) == (valid, agrees)
    assert schema_reward(j) == pytest.approx(reward)


def test_hierarchical_reward_keeps_its_order():
    cache = ValidatorCache()
    right = judge(parse_hermes(call("get_weather", {"city": "Oslo"})), REF, TOOLS, cache)
    wrong = judge(parse_hermes(call("get_weather", {"city": "Rome"})), REF, TOOLS, cache)
    asked = judge(parse_hermes(OFFLOAD_TEXT), REF, TOOLS, cache)
    junk = judge(parse_hermes("???"), REF, TOOLS, cache)
    r = HierarchicalRewards()
    values = [
        hierarchical_reward(right, False, r),
        hierarchical_reward(asked, True, r),
        hierarchical_reward(wrong, True, r),
        hierarchical_reward(junk, True, r),
    ]
    assert values == sorted(values, reverse=True) and len(set(values)) == 4
    assert hierarchical_reward(asked, False, r) == r.nothing


def test_export_reader_splits_prompt_and_reference(tmp_path):
    write_toy_dataset(tmp_path, n_train=5, n_validation=2, seed=3)
    train = load_split(tmp_path, "train")
    assert len(train) == 5 and len(load_split(tmp_path, "validation")) == 2
    ex = train[0]
    assert ex.prompt[-1]["role"] == "user" and ex.reference["tool_calls"]
    assert ex.tools == TOOLS
    city = json.loads(ex.reference_calls[0]["function"]["arguments"])["city"]
    assert city in ex.prompt[-1]["content"]
    assert parse_line({"messages": [{"role": "user", "content": "hi"}]}) is None
    before = data_hash(tmp_path)
    (tmp_path / "train-00001.jsonl").write_text(json.dumps(toy_record(99, "Lima", "{city}")) + "\n")
    assert data_hash(tmp_path) != before and len(load_split(tmp_path, "train")) == 6


def test_missing_export_says_what_to_run(tmp_path):
    with pytest.raises(DataError, match="netgpt dataset export"):
        load_split(tmp_path, "train")


def test_every_toy_reference_passes_the_gate(tmp_path):
    write_toy_dataset(tmp_path, n_train=20, n_validation=0)
    cache = ValidatorCache()
    for ex in load_split(tmp_path, "train"):
        ref = ex.reference
        answer = parse_hermes(call("get_weather", json.loads(ref["tool_calls"][0]["function"]["arguments"])))
        assert judge(answer, ref, ex.tools, cache).agrees
