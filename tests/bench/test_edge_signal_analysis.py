"""The edge-signal analysis on cases whose answer is known: AUC and its bootstrap interval, ROC,
calibration fitted on one split only, the log-prob spans, and the report."""

from __future__ import annotations

import json
import math
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pytest

from bench.common.items import Item, stratified_sample
from bench.common.stats import (
    auc,
    auc_ci,
    calibrated_scores,
    proportion_ci,
    roc_points,
    split_mask,
)
from bench.edge_signal.analysis import ALL, OutcomesError, analyse, load_rows
from bench.edge_signal.features import logprob_features
from bench.edge_signal.report import write_report


def test_auc_counts_pairs_and_ties_half() -> None:
    scores = np.array([0.1, 0.4, 0.35, 0.8])
    labels = np.array([False, False, True, True])
    assert auc(scores, labels) == pytest.approx(0.75)  # 3 of 4 (right, wrong) pairs in order
    assert auc(np.ones(6), np.array([True, False] * 3)) == 0.5
    assert auc(np.array([0.2, 0.9]), np.array([False, True])) == 1.0
    assert math.isnan(auc(np.array([0.2, 0.9]), np.array([True, True])))


def test_bootstrap_interval_covers_the_true_auc_of_a_binormal_signal() -> None:
    rng = np.random.default_rng(1)
    true_auc = 0.8
    d = math.sqrt(2) * NormalDist().inv_cdf(true_auc)
    labels = rng.random(3000) < 0.4
    scores = rng.standard_normal(3000) + d * labels
    ci = auc_ci(scores, labels, n_boot=400, seed=2)
    assert ci.low < true_auc < ci.high
    assert ci.low < ci.auc < ci.high
    assert ci.high - ci.low < 0.05  # n = 3000: a tight interval
    small = auc_ci(scores[:100], labels[:100], n_boot=400, seed=2)
    assert small.high - small.low > ci.high - ci.low  # fewer requests, wider interval
    assert ci.n == 3000 and ci.n_pos == int(labels.sum())


def test_roc_runs_from_origin_to_one_and_never_falls() -> None:
    rng = np.random.default_rng(0)
    labels = rng.random(200) < 0.5
    scores = np.round(rng.random(200) + labels * 0.5, 1)  # many ties
    fpr, tpr = roc_points(scores, labels)
    assert (fpr[0], tpr[0]) == (0.0, 0.0) and (fpr[-1], tpr[-1]) == (1.0, 1.0)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    # the trapezoid area under the ROC is the Mann-Whitney AUC (ties half)
    area = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
    assert area == pytest.approx(auc(scores, labels))


def test_wilson_interval() -> None:
    p, lo, hi = proportion_ci(12, 30)
    assert p == pytest.approx(0.4) and 0.23 < lo < 0.26 and 0.57 < hi < 0.60
    assert proportion_ci(0, 10)[1] == 0.0


def test_calibration_never_sees_the_evaluated_half() -> None:
    cats = ["simple"] * 40 + ["multiple_function"] * 20
    fit_on = split_mask(cats, seed=3)
    assert fit_on[:40].sum() == 20 and fit_on[40:].sum() == 10  # stratified halves
    rng = np.random.default_rng(0)
    raw = rng.random(60)
    valid = rng.random(60) < 0.8
    labels = rng.random(60) < raw
    a = calibrated_scores(raw, valid, labels, fit_on)
    flipped = labels.copy()
    flipped[~fit_on] = ~flipped[~fit_on]  # change every evaluated label
    b = calibrated_scores(raw, valid, flipped, fit_on)
    assert np.array_equal(a, b)
    assert np.all(a[~valid] == 0.0)  # an invalid draft scores 0, as in the gateway
    flipped_fit = labels.copy()
    flipped_fit[fit_on] = ~flipped_fit[fit_on]
    assert not np.array_equal(a, calibrated_scores(raw, valid, flipped_fit, fit_on))


def _response(tokens: list[tuple[str, float]]) -> dict:
    return {
        "choices": [{"logprobs": {"content": [{"token": t, "logprob": lp} for t, lp in tokens]}}]
    }


def test_logprob_features_isolate_the_call_name_and_arguments() -> None:
    tokens = [
        ("{", -0.1),
        ('"name": "', -0.2),
        ("get", -1.0),
        ("_weather", -3.0),
        ('", "arguments": ', -0.3),
        ('{"city": "', -0.4),
        ("Oslo", -2.0),
        ('"}', -0.5),
        ("}", -0.05),
        ("\n", -6.0),  # after the call: not part of it
    ]
    f = logprob_features(_response(tokens))
    lps = [lp for _, lp in tokens]
    assert f["lp_mean"] == pytest.approx(sum(lps) / len(lps))
    assert f["lp_min"] == -6.0 and f["lp_first"] == -0.1
    assert f["lp_sum"] == pytest.approx(sum(lps))
    assert f["lp_call_min"] == -3.0  # the trailing newline is outside the call
    assert f["lp_call_mean"] == pytest.approx(sum(lps[:9]) / 9)
    # the name's tokens overlap the name value "get_weather" (the opening quote's token too)
    assert f["lp_name_mean"] == pytest.approx((-0.2 - 1.0 - 3.0 - 0.3) / 4)
    assert f["lp_args_mean"] == pytest.approx((-0.4 - 2.0 - 0.5) / 3)  # from its "{" on
    assert f["lp_args_min"] == -2.0
    empty = logprob_features({"choices": [{"logprobs": None}]})
    assert all(v is None for v in empty.values())
    prose = logprob_features(_response([("I", -1.0), (" cannot", -2.0)]))
    assert prose["lp_call_mean"] is None and prose["lp_mean"] == pytest.approx(-1.5)


def test_stratified_sample_is_proportional_seeded_and_complete() -> None:
    items = [Item(f"s_{i}", "simple", "q", (), {}) for i in range(40)] + [
        Item(f"r_{i}", "relevance", "q", (), None) for i in range(20)
    ]
    a = stratified_sample(items, 15, seed=1)
    assert sum(i.category == "simple" for i in a) == 10
    assert sum(i.category == "relevance" for i in a) == 5
    assert [i.prompt_id for i in a] == [i.prompt_id for i in stratified_sample(items, 15, seed=1)]
    assert [i.prompt_id for i in a] != [i.prompt_id for i in stratified_sample(items, 15, seed=2)]
    assert len({i.prompt_id for i in stratified_sample(items, None, seed=1)}) == 60


def _rows(n: int = 240, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        category = ("simple", "multiple_function", "relevance")[i % 3]
        correct = category != "relevance" and bool(rng.random() < 0.5)
        valid = correct or bool(rng.random() < 0.7)
        lp = -0.3 - rng.random() * 0.5 - (0.0 if correct else 0.4)
        rows.append(
            {
                "id": f"{category}_{i}",
                "category": category,
                "correct": correct,
                "ast_error": "" if correct else "value_error:string",
                "schema_valid": valid,
                "n_calls": 1,
                "raw_score": math.exp(lp) if valid else 0.0,
                "latency_s": 1.0 + rng.random(),
                "completion_tokens": 30,
                "lp_mean": lp,
                "lp_min": lp - 1.0,
                "lp_call_mean": lp,
            }
        )
    return rows


def test_analysis_and_report_on_generated_outcomes(tmp_path: Path) -> None:
    rows = _rows()
    path = tmp_path / "outcomes.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n" + '{"id": "cut', encoding="utf-8")
    loaded = load_rows(path)  # the cut-off last line of a killed run is skipped
    assert len(loaded) == len(rows)
    result = analyse(loaded, seed=1, n_boot=200)
    acc = result.accuracy
    assert acc["relevance"]["correct"] == 0
    assert acc[ALL]["n"] == len(rows)
    assert acc[ALL]["correct"] == sum(r["correct"] for r in rows)
    assert result.auc_all["score"][ALL].auc > 0.75  # built to separate
    assert math.isnan(result.auc_all["score"]["relevance"].auc)  # no right drafts there
    assert result.auc_all["lp_first"][ALL].auc == 0.5  # missing everywhere: all tied
    assert result.eval_mask is not None and 0 < result.eval_mask.sum() < len(rows)
    report = write_report(result, tmp_path, [], {"sample_text": "all 240"})
    text = report.read_text()
    assert "## Accuracy per category" in text and "| relevance | 80 | 0 (0.0%)" in text
    assert result.auc_all["score"][ALL].text() in text
    assert result.calibrated_eval[ALL].text() in text


def test_load_rows_says_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(OutcomesError, match="netgpt bench edge-signal"):
        load_rows(tmp_path / "missing.jsonl")
    (tmp_path / "x.jsonl").write_text('{"foo": 1}\n')
    with pytest.raises(OutcomesError, match="not an edge-signal record"):
        load_rows(tmp_path / "x.jsonl")


def test_a_smaller_sample_is_part_of_a_larger_one() -> None:
    items = [Item(f"s_{i}", "simple", "q", (), {}) for i in range(50)] + [
        Item(f"m_{i}", "multiple_function", "q", (), {}) for i in range(30)
    ]
    small = {i.prompt_id for i in stratified_sample(items, 20, seed=7)}
    large = {i.prompt_id for i in stratified_sample(items, 60, seed=7)}
    assert len(small) == 20 and small < large


def test_plots_draw_with_and_without_both_classes(tmp_path: Path) -> None:
    from bench.edge_signal.plots import write_all

    for name, rows in (
        ("mixed", _rows(90)),
        ("one_class", [r | {"correct": False} for r in _rows(30)]),
    ):
        paths = write_all(analyse(rows, n_boot=20), tmp_path / name)
        assert [p.name for p in paths] == ["roc.png", "feature_auc.png"]
        assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in paths)
