"""The learning loop's scoring (the full BFCL checker) and its per-round verifier figures, on
answers and logged records written here (no model, no gateway)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.common.bfcl import Outcome, Request
from bench.loop.measure import Answer, Row, summarise, verdict
from bench.loop.report import write_report
from bench.loop.verifier import held_out_auc, in_sample_auc, refit_summary
from gateway.config import Settings
from gateway.policy.verifier_store import fit_records
from tests.gateway.policy.test_verifier_store import record, records

TOOL = {"type": "function", "function": {"name": "convert", "parameters": {
    "type": "object",
    "properties": {"amount": {"type": "number"}, "unit": {"type": "string"}},
    "required": ["amount"]}}}
_OUT = Outcome(True, "", None, None, None)


def _request(category: str = "simple") -> Request:
    truth = None if category == "relevance" else {"convert": {"amount": [2.5], "unit": ["kg", ""]}}
    return Request("p0", category, "Convert 2.5 kg", (TOOL,), truth, _OUT, _OUT)


def _answer(args: dict[str, object] | None, status: int = 200) -> Answer:
    calls = [] if args is None else [{"id": "c", "type": "function", "function": {
        "name": "convert", "arguments": json.dumps(args)}}]
    return Answer(status, 0.1, {"role": "assistant", "tool_calls": calls}, {})


def test_answers_are_judged_by_the_full_bfcl_checker() -> None:
    simple = _request()
    assert verdict(simple, _answer({"amount": 2.5})).correct  # optional "unit" may be left out
    assert verdict(simple, _answer({"amount": 2.5, "unit": "KG"})).correct  # BFCL's standardising
    # the rules a simple name-and-required check would miss, with BFCL's error types
    assert verdict(simple, _answer({"amount": 2.5, "unit": 5})).error_type == "type_error:simple"
    assert verdict(simple, _answer({"amount": 2.5, "unit": "lb"})).error_type == "value_error:string"
    extra = verdict(simple, _answer({"amount": 2.5, "colour": "red"}))
    assert not extra.correct and "unexpected_param" in extra.error_type
    assert verdict(simple, _answer(None, status=502)).error_type == "http_502"
    relevance = _request("relevance")
    assert verdict(relevance, _answer(None)).correct
    assert verdict(relevance, _answer({"amount": 1})).error_type == "relevance_error:decoder_success"


def _row(score: float | None, right: bool, error: str = "") -> Row:
    return Row("p", "simple", "edge", "score_above_threshold", 200, 1.0, right, right, 1, True,
               False, False, False, right, score, 0.5, edge_error_type=error)


def test_held_out_auc_is_the_routed_score_against_edge_correctness() -> None:
    rows = [_row(0.9, True), _row(0.8, True), _row(0.3, False, "value_error:string"),
            _row(0.85, False, "type_error:simple"), _row(None, False, "ast_decoder:decoder_failed")]
    auc = held_out_auc(rows)
    assert auc["n"] == 4 and auc["positives"] == 2  # the row without a score is left out
    assert auc["auc"] == pytest.approx(0.75)  # one wrong draft outranks one right one
    assert auc["auc_lo"] <= auc["auc"] <= auc["auc_hi"]
    summary = summarise(rows, 0.0)
    assert summary["score_auc_held_out"] == auc
    assert summary["edge_error_types"] == {"ast_decoder:decoder_failed": 1,
                                           "type_error:simple": 1, "value_error:string": 1}
    one_class = held_out_auc([_row(0.9, True), _row(0.2, True)])
    assert one_class["auc"] is None and one_class["n"] == 2


def test_in_sample_auc_scores_the_fit_on_its_own_records(tmp_path: Path) -> None:
    logged = records(40)
    full, _ = fit_records(logged, Settings(data_dir=tmp_path, verifier={"min_records": 10}),
                          "edge-small")
    path = tmp_path / "verifier.json"
    path.write_text(full.to_json(), encoding="utf-8")
    other = [record(99, "Oslo", "Oslo", edge_model="edge-other")]  # not this model's: ignored
    figures = in_sample_auc([*logged, *other], path, "edge-small")
    assert figures is not None
    assert figures["n"] == 40 and figures["positives"] == 20
    assert figures["auc"] > 0.9  # grounding separates these pairs
    assert in_sample_auc(logged, path, "edge-small-r2") is None  # an older round's fit
    assert in_sample_auc(logged, tmp_path / "none.json", "edge-small") is None


def test_refit_answer_is_read_back_and_reported(tmp_path: Path) -> None:
    fitted = refit_summary({"loaded": True, "source": "refit", "edge_model": "m-r0", "n": 31,
                            "positives": 9, "fit_s": 0.02, "enabled": True, "refit": True})
    assert fitted == {"refit": True, "n": 31, "positives": 9, "edge_model": "m-r0",
                      "fit_s": 0.02, "enabled": True}
    refused = refit_summary({"loaded": False, "enabled": True, "refit": False,
                             "reason": "3 usable pairs for edge model 'm-r1' (0 agreeing), need 4"})
    assert refused["refit"] is False and "need 4" in refused["reason"]
    assert refit_summary(None)["refit"] is False
    rounds = [
        {"round": 0, "model_gguf": "/m/a.gguf", "traffic": {}, "calibration": {},
         "verifier": {**fitted, "in_sample": {"auc": 0.912, "n": 31, "positives": 9}},
         "score_source": "verifier",
         "score_auc_held_out": {"auc": 0.701, "auc_lo": 0.52, "auc_hi": 0.86, "n": 30,
                                "positives": 8}},
        {"round": 1, "model_gguf": "/m/a.gguf", "traffic": {}, "calibration": {},
         "verifier": refused, "score_source": "calibrated log-prob score",
         "score_auc_held_out": {"auc": None, "n": 30, "positives": 0}},
    ]
    report = write_report(tmp_path, rounds, {}).read_text()
    assert "| 0 | yes | 31 | 9 | 0.912 | verifier | 0.701 [0.520, 0.860] (30, 8 right) |" in report
    assert "| 1 | no: 3 usable pairs for edge model 'm-r1' (0 agreeing), need 4 |" in report
    assert "full BFCL v1 AST checker" in report and "simplified" not in report
