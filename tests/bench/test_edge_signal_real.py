"""``netgpt bench edge-signal`` end to end against the REAL llama-server with SmolLM2, on a tiny
generated BFCL-shaped dataset (no shared data is read), and ``netgpt demo --edge real``.

Assertions are about shapes, bookkeeping and consistency with the gateway's own modules, never
about what the model answers.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.cli import register
from bench.common.ast_check import check
from bench.common.items import load_items
from bench.edge_signal.features import FEATURES
from gateway.routing.schema_guard import ValidatorCache, check_tool_calls, tool_schemas
from tests.bench.conftest import write_dataset

pytestmark = [pytest.mark.llamacpp, pytest.mark.integration, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]


def _netgpt(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="netgpt")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return int(args.func(args))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("tiny"), per_category=2)


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_measures_real_drafts_resumes_and_reports(tiny: Path, tmp_path: Path) -> None:
    out = tmp_path / "signal"
    argv = ["bench", "edge-signal", "--data", str(tiny), "--out", str(out), "--boot", "50"]
    # a sample of 6 of the 10 requests: the command starts its own llama-server (2 slots)
    assert _netgpt([*argv, "--sample", "6", "--seed", "3"]) == 0
    rows = _rows(out / "outcomes.jsonl")
    assert len(rows) == 6 and len({r["id"] for r in rows}) == 6
    assert {r["category"] for r in rows} >= {"simple", "relevance"}  # stratified
    items = {i.prompt_id: i for i in load_items(tiny)}
    cache = ValidatorCache()
    for row in rows:
        assert "edge_error" not in row, row  # the real server answered every request
        item = items[row["id"]]
        calls = [
            {"type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
            for c in row["calls"]
        ]
        assert row["n_calls"] == len(calls) == 1  # the pre-fill forces one call
        # the recorded verdicts are the guard's and BFCL's rule on the recorded draft
        assert row["schema_valid"] == check_tool_calls(calls, tool_schemas(item.tools), cache).valid
        assert row["correct"] == check(item.category, item.tools, item.ground_truth, calls).correct
        if item.category == "relevance":
            assert row["correct"] is False  # a forced call is never right there
        assert row["n_tokens"] > 0 and row["completion_tokens"] > 0 and row["prompt_tokens"] > 0
        assert row["lp_mean"] <= 0 and row["lp_min"] <= row["lp_mean"]
        assert row["lp_sum"] == pytest.approx(row["lp_mean"] * row["n_tokens"], rel=1e-6)
        assert set(FEATURES) <= row.keys()
        assert 0.0 <= row["raw_score"] <= 1.0
        assert (row["raw_score"] == 0.0) == (not row["schema_valid"])
        assert 0 < row["latency_s"] < 120
    # resumable: a rerun over all 10 measures only the 4 missing ones
    assert _netgpt(argv) == 0
    rows = _rows(out / "outcomes.jsonl")
    assert len(rows) == 10 and len({r["id"] for r in rows}) == 10
    report = (out / "report.md").read_text()
    assert "## Accuracy per category" in report and "| **all** | 10 |" in report
    assert "**real** `llama-server`" in report
    for png in ("roc.png", "feature_auc.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    meta = json.loads((out / "meta.json").read_text())
    assert meta["measured"] == 10 and meta["wall_s"] > 0


def test_demo_with_the_real_edge_answers(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONUNBUFFERED="1", COLUMNS="160")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "gateway.cli",
            "demo",
            "--synthetic",
            "--no-live",
            "--edge",
            "real",
            "--duration",
            "40",  # a few drafts even on a busy shared CPU
            "--rate",
            "0.5",
            "--interval",
            "5",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "Traceback" not in out
    assert "edge is REAL" in out and "cloud is REPLAYED" in out
    answered = [int(x) for x in re.findall(r"answered=(\d+)", out)]
    assert answered and answered[-1] > 0, out
    assert int(re.findall(r"errors=(\d+)", out)[-1]) == 0, out
    # llama-server's own decode rate, read from its /metrics (0 until a draft completes: on a
    # busy shared CPU every draft may outlast the demo's 30 s edge timeout)
    rates = [float(x) for x in re.findall(r"edge_tok/s=([\d.]+)", out)]
    assert rates and rates[-1] >= 0, out
    # the gateway drafted at the real edge: its edge upstream time, from the gateway's /metrics
    drafts = [float(x) for x in re.findall(r"edge_draft=([\d.]+) s", out)]
    assert drafts and drafts[-1] > 0, out
    routes = re.findall(r"reason: (\w+)", out)
    assert routes and set(routes) <= {
        "score_above_threshold",
        "score_below_threshold",
        "schema_invalid",
        "edge_unavailable",
    }, out
    assert "and llama-server stopped" in out
