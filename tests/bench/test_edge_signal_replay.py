"""``netgpt bench routing --edge-outcomes FILE``: recorded real-edge outcomes replace the
edge-class model and its simulated signal (a small generated outcomes file)."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import pytest

from bench.cli import register
from bench.routing.run import Options, run
from tests.bench.conftest import CATEGORIES, EDGE


def _netgpt(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="netgpt")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return int(args.func(args))


def _outcomes(path: Path, per_category: int = 12) -> dict[str, dict]:
    """Every request but the last of each category; right drafts score high, wrong ones low."""
    rng = np.random.default_rng(4)
    rows = {}
    for category in CATEGORIES:
        for i in range(per_category - 1):
            pid = f"{category}_{i}"
            correct = category != "relevance" and i % 3 != 0
            valid = correct or i % 2 == 0
            raw = (0.6 + 0.4 * rng.random() if correct else 0.5 * rng.random()) if valid else 0.0
            rows[pid] = {
                "id": pid,
                "category": category,
                "correct": correct,
                "schema_valid": valid,
                "n_calls": 1,
                "raw_score": raw,
                "latency_s": 1.5 + rng.random(),
            }
    path.write_text("\n".join(json.dumps(r) for r in rows.values()) + "\n")
    return rows


def test_replay_uses_the_recorded_edge(dataset: Path, tmp_path: Path) -> None:
    rows = _outcomes(tmp_path / "outcomes.jsonl")
    opts = Options(
        data=dataset,
        out=tmp_path,
        quick=True,
        edge_model=EDGE,
        edge_outcomes=tmp_path / "outcomes.jsonl",
        traces_per_family=1,
    )
    result = run(opts)
    w = result.workload
    assert sorted(w.prompt_id) == sorted(rows)  # only the measured requests
    for i, pid in enumerate(w.prompt_id):
        assert w.edge_correct[i] == rows[pid]["correct"]
        assert w.valid[i] == rows[pid]["schema_valid"]
        assert w.edge_latency_s[i] == pytest.approx(rows[pid]["latency_s"])
    # the score comes from the recorded raw scores, not a draw: its AUC on the calibration half
    # is that of the calibrated recorded scores (here built to separate perfectly among valid)
    assert result.setup.score_auc > 0.95
    edge = result.results["flat"]["norway_3g"].curves()["always_edge"][0][1]
    ev = result.evaluation
    assert edge.accuracy == pytest.approx(ev.edge_correct.mean())
    assert edge.latency_s == pytest.approx(ev.edge_latency_s.mean())
    # a different --auc changes nothing when the signal is measured
    again = run(Options(**{**opts.__dict__, "auc": 0.55}))
    assert again.setup.quantile_taus == result.setup.quantile_taus


def test_cli_writes_a_report_that_says_what_is_measured(dataset: Path, tmp_path: Path) -> None:
    _outcomes(tmp_path / "outcomes.jsonl")
    out = tmp_path / "out"
    argv = ["bench", "routing", "--quick", "--traces-per-family", "1", "--data", str(dataset)]
    argv += ["--out", str(out), "--edge-model", EDGE, "--no-plots"]
    code = _netgpt([*argv, "--edge-outcomes", str(tmp_path / "outcomes.jsonl")])
    assert code == 0
    report = (out / "report.md").read_text()
    assert "What is recorded, measured and simulated" in report
    assert "**measured**: the real llama-server" in report
    assert "real SmolLM2-135M (measured)" in report
    assert "**simulated**: binormal" not in report
    assert not math.isnan(float(report.split("evaluation half ")[1].split(" ")[0]))


def test_missing_outcomes_file_exits_2_and_says_what_to_run(
    dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["bench", "routing", "--quick", "--data", str(dataset), "--out", str(tmp_path)]
    code = _netgpt([*argv, "--edge-model", EDGE, "--edge-outcomes", str(tmp_path / "no.jsonl")])
    assert code == 2
    assert "netgpt bench edge-signal" in capsys.readouterr().err
