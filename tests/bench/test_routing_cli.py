from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from bench.cli import register
from bench.routing.run import Options, run
from tests.bench.conftest import EDGE


def _netgpt(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="netgpt")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return int(args.func(args))


def test_help_explains_every_option(capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit):
        _netgpt(["bench", "routing", "--help"])
    text = capsys.readouterr().out
    for option in (
        "--data",
        "--out",
        "--quick",
        "--edge-model",
        "--cloud-model",
        "--auc",
        "--seed",
    ):
        assert option in text


def test_missing_data_exits_2_and_says_to_pass_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    code = _netgpt(
        ["bench", "routing", "--quick", "--data", str(tmp_path), "--out", str(tmp_path / "o")]
    )
    assert code == 2
    assert "--data" in capsys.readouterr().err


def test_quick_run_writes_report_and_plots(dataset: Path, tmp_path: Path):
    out = tmp_path / "out"
    code = _netgpt(
        [
            "bench",
            "routing",
            "--quick",
            "--data",
            str(dataset),
            "--out",
            str(out),
            "--edge-model",
            EDGE,
        ]
    )
    assert code == 0
    report = (out / "report.md").read_text()
    assert "What is recorded and what is simulated" in report
    assert "**simulated**" in report and "**recorded**" in report
    for family in ("FCC broadband", "5G/LTE Cork", "mahimahi cellular", "Norway 3G"):
        assert family in report
    assert "Dynamic against the best fixed threshold" in report
    assert "0 of" in report  # τ monotone: no violating pair
    for png in (
        "frontier_spend.png",
        "frontier_latency.png",
        "frontier_share.png",
        "tau_along_traces.png",
    ):
        data = (out / png).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
        assert f"]({png})" in report


def test_policies_bracket_each_other(dataset: Path, tmp_path: Path):
    result = run(Options(data=dataset, out=tmp_path, quick=True, edge_model=EDGE))
    for family, bucket in result.results["flat"].items():
        c = bucket.curves()
        edge, cloud, oracle = (c[p][0][1] for p in ("always_edge", "always_cloud", "oracle"))
        assert edge.spend_per_1k == 0 and edge.cloud_share == 0, family
        assert cloud.cloud_share == 1
        assert oracle.accuracy >= max(edge.accuracy, cloud.accuracy)
        shares = [m.cloud_share for _, m in c["dynamic"]]  # λ grows → τ falls → fewer fallbacks
        assert all(b <= a + 1e-12 for a, b in zip(shares, shares[1:], strict=False))
        fixed = [m.cloud_share for _, m in c["fixed"]]  # τ grows → more fallbacks
        assert all(b >= a - 1e-12 for a, b in zip(fixed, fixed[1:], strict=False))
    curves = result.results["flat"]["norway_3g"].curves()
    budget = dict(curves["budget"])
    # μ ≥ 0 only lowers τ: a budget never sends more to the cloud than τ = q_c (λ = 0) does,
    # and a tighter budget never more than a looser one (convergence: test_routing_math)
    assert budget[0.1].cloud_share <= budget[0.3].cloud_share
    assert budget[0.3].cloud_share <= dict(curves["dynamic"])[0.0].cloud_share + 1e-12
