"""The verifier benchmark on a data folder written by the test (the shared data is never read):
its statistics on hand-checked cases, and the whole run through ``netgpt bench routing
--verifier``."""

from __future__ import annotations

import argparse
import csv
import json
import random
from pathlib import Path

import numpy as np
import pytest

from bench.cli import register
from bench.routing.verifier import Options, run
from bench.routing.verifier_stats import (
    frontier,
    oof_scores,
    oracle_frontier,
    random_frontier,
    stratified_folds,
)
from gateway.routing.verifier import FEATURE_NAMES

EDGE = "Salesforce_xLAM-1b-fc-r"
CLOUD = "gpt-4o-2024-08-06-FC"
CATEGORIES = (
    "simple",
    "multiple_function",
    "parallel_function",
    "parallel_multiple_function",
    "relevance",
)
CITIES = ["Oslo", "Cork", "Lima", "Kyoto", "Accra", "Perth", "Quito", "Turin"]
TOOL = {
    "name": "weather.get",
    "description": "Weather forecast for a city over some days",
    "parameters": {
        "type": "dict",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["city", "days"],
    },
}


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")


def write_data(root: Path, per_category: int = 30) -> Path:
    """Edge right on two requests in three (the asked city and days), wrong otherwise (an
    invented city): a grounding feature separates them. The cloud is always right."""
    rng = random.Random(5)
    wide = []
    for category in CATEGORIES:
        questions, answers, edge, cloud = [], [], [], []
        for i in range(per_category):
            pid = f"{category}_{i}"
            city, days = rng.choice(CITIES), rng.randint(2, 9)
            relevance = category == "relevance"
            question = (
                f"Tell me a joke about {city}"
                if relevance
                else f"Weather in {city} for {days} days?"
            )
            questions.append({"id": pid, "question": question, "function": TOOL})
            if not relevance:
                answers.append(
                    {"id": pid, "ground_truth": {"weather.get": {"city": [city], "days": [days]}}}
                )
            right = i % 3 != 0
            said = {"city": city if right else "Nowhere", "days": days if right else 99}
            calls = [] if relevance and right else [{"name": "weather.get", "arguments": said}]
            edge.append({"id": pid, "result": json.dumps({"tool_calls": calls})})
            cloud_result = (
                "No tool fits."
                if relevance
                else [{"weather_get": json.dumps({"city": city, "days": days})}]
            )
            cloud.append(
                {"id": pid, "result": cloud_result, "input_token_count": 90,
                 "output_token_count": 12, "latency": 0.4}
            )  # fmt: skip
            wide.append(
                {"category": category, "index": i, "prompt_id": pid, EDGE: int(right), CLOUD: 1}
            )
        name = f"gorilla_openfunctions_v1_test_{category}"
        _write_jsonl(root / "bfcl/v1" / f"{name}.json", questions)
        if answers:
            _write_jsonl(root / "bfcl/v1/possible_answer" / f"{name}.json", answers)
        _write_jsonl(root / "outcomes/results" / EDGE / f"{name}_result.json", edge)
        _write_jsonl(root / "outcomes/results" / CLOUD / f"{name}_result.json", cloud)
    with (root / "outcomes/bfcl_2024-08-11_correctness_wide.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["category", "index", "prompt_id", EDGE, CLOUD])
        writer.writeheader()
        writer.writerows(wide)
    return root


def test_stratified_folds_partition_and_balance():
    labels = np.array([True] * 12 + [False] * 8)
    folds = stratified_folds(labels, 4, np.random.default_rng(0))
    assert sorted(np.concatenate(folds).tolist()) == list(range(20))
    assert [int(labels[f].sum()) for f in folds] == [3, 3, 3, 3]


def test_frontier_sends_lowest_scores_first():
    edge = np.array([True, False, True, False])
    cloud = np.array([True, True, False, True])
    curve = frontier(np.array([0.9, 0.1, 0.8, 0.2]), edge, cloud)
    assert curve.e2e.tolist() == [0.5, 0.75, 1.0, 0.75, 0.75]
    assert curve.at(0.5) == 1.0 and curve.share_to_reach(0.75) == 0.25
    assert curve.best() == (1.0, 0.5)
    assert oracle_frontier(edge, cloud).best() == (1.0, 0.5)
    assert random_frontier(edge, cloud).e2e.tolist() == pytest.approx(
        [0.5, 0.5625, 0.625, 0.6875, 0.75]
    )


def test_out_of_fold_scores_do_not_learn_noise():
    rng = np.random.default_rng(3)
    x = rng.random((120, len(FEATURE_NAMES)))
    labels = rng.random(120) < 0.5
    scores = oof_scores(x, labels, FEATURE_NAMES, repeats=3, l2=0.01)
    from bench.common.stats import auc

    assert abs(auc(scores, labels) - 0.5) < 0.15  # an in-sample fit of 60+ features scores ~0.8
    assert oof_scores(x, np.zeros(120, dtype=bool), FEATURE_NAMES) is None


def test_run_finds_the_grounding_signal(tmp_path: Path):
    data = write_data(tmp_path / "data")
    opts = Options(data=data, out=tmp_path / "out", edge_models=(EDGE,), smol_outcomes=None,
                   repeats=2, n_boot=50)  # fmt: skip
    result = run(opts)
    rows = {(r.variant, r.relevance_included): r for r in result.rows}
    verifier = rows[("verifier", True)]
    assert verifier.auc > 0.9 and verifier.auc_lo <= verifier.auc <= verifier.auc_hi
    assert verifier.n == 150 and rows[("verifier", False)].n == 120
    assert verifier.share_to_match_cloud < 0.5  # the wrong third goes to the cloud first
    assert rows[("all_cloud", True)].e2e_at_30 == 1.0
    assert result.timing["score_us"] > 0
    stored = json.loads((tmp_path / "out/models" / f"{EDGE}.json").read_text())
    assert stored["edge_model"] == EDGE and stored["label"] == "cloud_cover"


def _netgpt(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="netgpt")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return int(args.func(args))


def test_cli_writes_results_report_and_plots(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    data = write_data(tmp_path / "data")
    out = tmp_path / "out"
    code = _netgpt(["bench", "routing", "--verifier", "--quick", "--data", str(data),
                    "--out", str(out), "--edge-outcomes", str(tmp_path / "none.jsonl")])  # fmt: skip
    assert code == 0
    doc = json.loads((out / "results.json").read_text())
    keys = {"edge_model", "variant", "auc", "auc_lo", "auc_hi", "e2e_at_30",
            "share_to_match_cloud", "relevance_included"}  # fmt: skip
    assert doc["rows"] and all(keys <= set(r) for r in doc["rows"])
    assert any("skipped" in n for n in doc["notes"])  # the four other edge models are absent
    assert (out / "report.md").read_text().startswith("# Learned verifier")
    assert (out / "verifier_auc.png").stat().st_size > 1000
    printed = capsys.readouterr().out
    assert "µs per request" in printed and "results:" in printed


def test_cli_without_data_says_what_to_pass(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    code = _netgpt(["bench", "routing", "--verifier", "--data", str(tmp_path), "--out",
                    str(tmp_path / "o")])  # fmt: skip
    assert code == 2
    assert "--data" in capsys.readouterr().err
