"""The loader on a results folder written by the test (the recorded data is never read)."""

from __future__ import annotations

import json

import pytest

from bench.common.replay import CATEGORIES, ReplayDataError, load_replays, recorded_models


def _write(root, model, rows_by_category):
    folder = root / "outcomes" / "results" / model
    folder.mkdir(parents=True)
    for category in CATEGORIES:
        rows = rows_by_category.get(category, [])
        path = folder / f"gorilla_openfunctions_v1_test_{category}_result.json"
        path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")


def test_fc_model_carries_latency_and_tokens(tmp_path):
    _write(
        tmp_path,
        "gpt-4o-2024-08-06-FC",
        {
            "simple": [
                {
                    "id": "simple_0",
                    "result": [{"f": '{"a":1}'}],
                    "input_token_count": 90,
                    "output_token_count": 12,
                    "latency": 0.5,
                },
            ],
            "relevance": [
                {
                    "id": "relevance_0",
                    "result": "No tool fits.",
                    "input_token_count": 40,
                    "output_token_count": 9,
                    "latency": 0.25,
                }
            ],
        },
    )
    replays = load_replays(tmp_path, "gpt-4o-2024-08-06-FC")
    assert set(replays) == {"simple_0", "relevance_0"}
    first = replays["simple_0"]
    assert (first.category, first.latency_s, first.input_tokens, first.output_tokens) == (
        "simple",
        0.5,
        90,
        12,
    )
    assert first.answer.tool_calls[0]["function"]["name"] == "f"
    assert replays["relevance_0"].answer.tool_calls == ()


def test_open_model_has_no_latency(tmp_path):
    _write(
        tmp_path,
        "Salesforce_xLAM-1b-fc-r",
        {"parallel_function": [{"id": "parallel_function_3", "result": "\n[]"}]},
    )
    rep = load_replays(tmp_path, "Salesforce_xLAM-1b-fc-r")["parallel_function_3"]
    assert rep.latency_s is None and rep.input_tokens is None and rep.answer.parsed


def test_errors_name_the_models_and_files(tmp_path):
    _write(tmp_path, "Salesforce_xLAM-1b-fc-r", {})
    assert recorded_models(tmp_path) == ["Salesforce_xLAM-1b-fc-r"]
    with pytest.raises(ReplayDataError, match="Salesforce_xLAM-1b-fc-r"):
        load_replays(tmp_path, "missing-model")
    (
        tmp_path / "outcomes/results/Salesforce_xLAM-1b-fc-r/"
        "gorilla_openfunctions_v1_test_simple_result.json"
    ).write_text("{broken\n")
    with pytest.raises(ReplayDataError, match="simple_result.json:1"):
        load_replays(tmp_path, "Salesforce_xLAM-1b-fc-r")
