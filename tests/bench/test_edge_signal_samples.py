"""Self-consistency in the benchmarks: the edge-signal report's section on rows measured with
``--samples K`` and the verifier benchmark's with/without-``sc_`` comparison, on data written
by the test; then ``netgpt bench edge-signal --samples`` against the REAL llama-server."""

from __future__ import annotations

import argparse
import json
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench.cli import register
from bench.edge_signal.analysis import analyse
from bench.edge_signal.consistency import sample_stats
from bench.edge_signal.report import write_report
from bench.routing.verifier import Options, paired_gain, run
from tests.bench.conftest import write_dataset
from tests.bench.test_routing_verifier import CLOUD, EDGE, write_data


def _rows(n: int = 120, seed: int = 0) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        correct = bool(i % 2)
        agreement = (0.75 + 0.25 * rng.random()) if correct else 0.5 * rng.random()
        lone = 1.0 + rng.random()
        rows.append({
            "id": f"simple_{i}", "category": "simple", "correct": correct, "schema_valid": True,
            "n_calls": 1, "raw_score": 0.5, "latency_s": lone, "completion_tokens": 30,
            "sc_k": 4, "sc_temperature": 0.7, "sc_wall_s": lone * 1.5, "sc_draft_s": lone * 1.2,
            "sc_samples_s": lone * 1.5, "sc_same_draft": i % 10 != 0,
            "samples": None if i == 0 else {"k": 4, "agreement": agreement,
                                            "name_agreement": 1.0, "distinct": 1 - agreement / 2},
        })
    return rows


def test_sample_stats_measure_the_agreement_signal_and_the_wall_time() -> None:
    rows = _rows()
    stats = sample_stats(rows, seed=1, n_boot=100)
    assert stats is not None and (stats.n, stats.k, stats.drawn) == (120, 4, 119)
    assert stats.auc["sc_agreement"].auc > 0.95  # built to separate
    assert stats.auc["sc_name_agreement"].auc == 0.5  # constant: all tied
    assert stats.auc["sc_distinct"].auc > 0.95  # fewer distinct answers when right
    assert stats.same_draft == pytest.approx(108 / 120)
    p50, _ = stats.latency["extra per request"]
    assert p50 == pytest.approx(0.5 * float(np.median([r["latency_s"] for r in rows])), rel=0.05)
    assert stats.extra_ratio_p50 == pytest.approx(1.5)
    assert stats.late_share == 0.0  # samples 0.3-0.6 s after their draft: within the 1 s wait
    rows[5]["sc_samples_s"] = rows[5]["sc_draft_s"] + 1.5
    assert sample_stats(rows, 1, 10).late_share == pytest.approx(1 / 120)  # type: ignore[union-attr]
    assert sample_stats([{k: v for k, v in r.items() if not k.startswith("sc_")} for r in rows],
                        1, 10) is None


def test_the_report_has_a_self_consistency_section_only_with_samples(tmp_path: Path) -> None:
    rows = _rows()
    text = write_report(analyse(rows, seed=1, n_boot=50), tmp_path, [], {}).read_text()
    assert "## Self-consistency (4 samples at temperature 0.7)" in text
    assert "| extra per request |" in text
    plain = [{k: v for k, v in r.items() if k not in ("sc_k", "samples")} for r in rows]
    assert "Self-consistency" not in write_report(analyse(plain, 1, 50), tmp_path, [], {}).read_text()


def test_paired_gain_is_zero_for_the_same_scores_and_positive_for_a_better_one() -> None:
    rng = np.random.default_rng(0)
    labels = rng.random(200) < 0.5
    noise = rng.random(200)
    gain, lo, hi = paired_gain(noise, noise, labels, 200, 0)
    assert gain == lo == hi == 0.0
    better = noise + labels * 0.8
    gain, lo, hi = paired_gain(better, noise, labels, 200, 0)
    assert lo > 0.1 and lo <= gain <= hi


def smol_outcomes(data: Path, path: Path) -> None:
    """SmolLM2-like outcomes on the simple requests whose drafts all look alike (the asked city
    and days): on the ones meant wrong the recorded cloud is rewritten to answer otherwise, so
    the label (agreement with the cloud) is not in the draft's features, only in the samples'
    agreement."""
    rng = random.Random(2)
    rows, cloud = [], []
    name = "gorilla_openfunctions_v1_test_simple"
    for line in (data / f"bfcl/v1/{name}.json").read_text().splitlines():
        item = json.loads(line)
        city, days = re.fullmatch(r"Weather in (\w+) for (\d+) days\?", item["question"]).groups()
        right = rng.random() < 0.5
        said = {"city": city, "days": int(days)}
        rows.append({
            "id": item["id"], "category": "simple", "correct": right, "raw_score": 0.5,
            "lp_mean": -0.3, "lp_min": -2.0, "n_tokens": 20,
            "calls": [{"name": "weather_get", "arguments": json.dumps(said)}], "sc_k": 4,
            "samples": {"k": 4, "agreement": 1.0 if right else 0.25, "name_agreement": 1.0,
                        "distinct": 0.2 if right else 0.6},
        })
        answer = said if right else {"city": "Nowhere", "days": 99}
        cloud.append({"id": item["id"], "result": [{"weather_get": json.dumps(answer)}],
                      "input_token_count": 90, "output_token_count": 12, "latency": 0.4})
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    recorded = data / "outcomes/results" / CLOUD / f"{name}_result.json"
    recorded.write_text("\n".join(json.dumps(r) for r in cloud) + "\n", encoding="utf-8")


def test_the_verifier_benchmark_reports_the_gain_of_the_sc_features(tmp_path: Path) -> None:
    data = write_data(tmp_path / "data", per_category=40)
    outcomes = tmp_path / "smol.jsonl"
    smol_outcomes(data, outcomes)
    opts = Options(data=data, out=tmp_path / "out", edge_models=(EDGE,), smol_outcomes=outcomes,
                   repeats=2, n_boot=100)
    result = run(opts)
    rows = {(r.edge_model, r.variant, r.relevance_included): r for r in result.rows}
    smol = "SmolLM2-135M-Instruct"
    with_sc, without = rows[(smol, "verifier", True)], rows[(smol, "verifier_no_sc", True)]
    assert without.auc < 0.75  # the drafts alone cannot tell (their form is the same)
    assert with_sc.auc is not None and without.auc is not None
    assert with_sc.auc > 0.9 and rows[(smol, "sc_only", True)].auc > 0.9
    gain, lo, _ = result.sc_gain[(smol, True)]
    assert gain == pytest.approx(with_sc.auc - without.auc, abs=1e-3) and lo > 0
    assert (EDGE, "verifier_no_sc", True) not in rows  # recorded models have no samples
    stored = json.loads((opts.out / "models" / f"{smol}.json").read_text())
    assert "sc_agreement" in stored["features"]


def _netgpt(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="netgpt")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return int(args.func(args))


@pytest.mark.llamacpp
@pytest.mark.integration
@pytest.mark.slow
def test_edge_signal_draws_samples_from_the_real_server(tmp_path: Path) -> None:
    tiny = write_dataset(tmp_path / "tiny", per_category=2)
    out = tmp_path / "signal"
    argv = ["bench", "edge-signal", "--data", str(tiny), "--out", str(out), "--boot", "50",
            "--sample", "3", "--seed", "3", "--samples", "2", "--temperature", "0.9",
            "--parallel", "1", "--no-plots", "--timeout", "600"]
    assert _netgpt(argv) == 0  # its own llama-server, 1 x (2 + 1) slots
    rows = [json.loads(line) for line in (out / "outcomes.jsonl").read_text().splitlines()]
    assert len(rows) == 3
    for row in rows:
        assert "sample_error" not in row, row
        assert row["sc_k"] == 2 and row["samples"]["k"] == 2
        assert len(row["sample_calls"]) == 2 and all(len(c) == 1 for c in row["sample_calls"])
        assert row["sc_wall_s"] >= max(row["sc_draft_s"], row["sc_samples_s"]) * 0.99
        assert isinstance(row["sc_same_draft"], bool)
    meta = json.loads((out / "meta.json").read_text())
    assert meta["samples"] == 2 and meta["slots"] == 3
    assert "## Self-consistency (2 samples at temperature 0.9)" in (out / "report.md").read_text()


def test_measured_only_cross_validates_the_real_edge_alone(tmp_path: Path) -> None:
    data = write_data(tmp_path / "data", per_category=20)
    outcomes = tmp_path / "smol.jsonl"
    smol_outcomes(data, outcomes)
    out = tmp_path / "out"
    argv = ["bench", "routing", "--verifier", "--measured-only", "--quick", "--no-plots",
            "--data", str(data), "--edge-outcomes", str(outcomes), "--out", str(out)]
    assert _netgpt(argv) == 0
    doc = json.loads((out / "results.json").read_text())
    assert {r["edge_model"] for r in doc["rows"]} == {"SmolLM2-135M-Instruct"}
    assert {"verifier", "verifier_no_sc", "sc_only"} <= {r["variant"] for r in doc["rows"]}
    assert [g["relevance_included"] for g in doc["sc_gain"]] == [True, False]
    assert "Self-consistency: AUC(verifier) − AUC(verifier_no_sc)" in (out / "report.md").read_text()
