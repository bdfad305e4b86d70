"""``netgpt bench experts``: the simulator run end to end on a small generated data folder.

The data folder is written here in the shapes of the shared data (Azure trace CSV, BFCL summary
and latency tables) with made-up values; the tests never read the shared data.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
from pathlib import Path

import pytest

from bench.cli import register
from bench.experts.profiles import PROFILE_DIR, load_profile
from bench.experts.run import GPU_BOX
from bench.experts.sim import CloudProfile, simulate
from bench.experts.workload import QualityTable, SloClass, poisson
from gateway.routing.placement import POLICIES, PolicyState

REQUIRED = {
    "policy",
    "workload",
    "utilisation",
    "slo_miss_rate",
    "mean_qos",
    "p99_s",
    "p50_s",
    "cloud_share",
    "slo_miss_rate_sd",
    "mean_qos_sd",
    "seeds",
}
MODELS = [
    "Salesforce_xLAM-7b-fc-r",
    "Salesforce_xLAM-1b-fc-r",
    "NousResearch_Hermes-2-Pro-Llama-3-8B",
    "THUDM_glm-4-9b-chat",
    "gpt-4o-2024-08-06-FC",
]
CATEGORIES = [
    "simple",
    "multiple_function",
    "parallel_function",
    "parallel_multiple_function",
    "relevance",
]


def _netgpt(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="netgpt")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return int(args.func(args))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("experts-data")
    rng = random.Random(5)
    (root / "workloads").mkdir()
    with (root / "workloads" / "AzureLLMInferenceTrace_conv.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["TIMESTAMP", "ContextTokens", "GeneratedTokens"])
        t = 0.0
        for _ in range(1200):
            t += rng.expovariate(4.0) * (5 if rng.random() < 0.1 else 1)  # bursty
            stamp = f"2023-11-16 18:{int(t // 60) % 60:02d}:{t % 60:010.7f}"
            w.writerow([stamp, rng.randint(50, 3000), rng.randint(1, 400)])
    (root / "outcomes").mkdir()
    with (root / "outcomes" / "bfcl_2024-08-11_summary.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(
            [
                "model",
                "category",
                "accuracy",
                "correct_count",
                "total_count",
                "failure_lines_consistent",
            ]
        )
        for m in MODELS:
            for c in CATEGORIES:
                w.writerow([m, c, round(rng.uniform(0.4, 0.95), 3), 1, 1, True])
    with (root / "outcomes" / "bfcl_2024-08-11_selected_long.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(
            [
                "model",
                "category",
                "index",
                "prompt_id",
                "correct",
                "error_type",
                "latency_s",
                "input_tokens",
                "output_tokens",
            ]
        )
        for i in range(100):
            w.writerow(
                [MODELS[-1], "simple", i, f"simple_{i}", 1, "", rng.lognormvariate(0, 0.5), 100, 20]
            )
    return root


def test_help_explains_every_option(capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit):
        _netgpt(["bench", "experts", "--help"])
    text = capsys.readouterr().out
    for option in (
        "--data",
        "--out",
        "--quick",
        "--seeds",
        "--loads",
        "--policies",
        "--micro",
        "--requests",
        "--learned-weights",
        "--no-plots",
    ):
        assert option in text


@pytest.mark.slow
def test_quick_run_writes_results_and_report(data_dir: Path, tmp_path: Path):
    out = tmp_path / "out"
    code = _netgpt(
        [
            "bench",
            "experts",
            "--quick",
            "--requests",
            "250",
            "--data",
            str(data_dir),
            "--out",
            str(out),
        ]
    )
    assert code == 0
    rows = json.loads((out / "results.json").read_text())
    assert {r["workload"] for r in rows} == {"poisson", "azure-conv"}
    assert {r["policy"] for r in rows} == set(POLICIES)  # the learned one too (shipped weights)
    for r in rows:
        assert REQUIRED <= set(r)
        assert r["utilisation"] == 0.8
        assert 0.0 <= r["slo_miss_rate"] <= 1.0 and 0.0 <= r["mean_qos"] <= 1.0
        assert 0.0 <= r["cloud_share"] <= 1.0 and r["p99_s"] >= r["p50_s"] > 0.0
    report = (out / "report.md").read_text()
    assert "## azure-conv" in report and "## The target" in report
    assert "recorded" in report and "assumed" in report
    assert "## The learned policy's training" in report
    for png in ("slo_miss_rate.png", "mean_qos.png", "p99_s.png", "training_curve.png"):
        assert (out / png).stat().st_size > 1000 and f"]({png})" in report


def test_results_are_deterministic_for_a_seed(data_dir: Path, tmp_path: Path):
    argv = [
        "bench",
        "experts",
        "--quick",
        "--requests",
        "200",
        "--no-plots",
        "--policies",
        "least_loaded,impact",
        "--data",
        str(data_dir),
    ]
    assert _netgpt([*argv, "--out", str(tmp_path / "a")]) == 0
    assert _netgpt([*argv, "--out", str(tmp_path / "b")]) == 0
    a = json.loads((tmp_path / "a" / "results.json").read_text())
    b = json.loads((tmp_path / "b" / "results.json").read_text())
    assert a == b
    report = (tmp_path / "a" / "report.md").read_text()
    assert (
        "cloud call time: recorded" in report
        and "quality per expert and request type: recorded" in report
    )


def test_unknown_policy_and_missing_data_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert (
        _netgpt(["bench", "experts", "--quick", "--policies", "fastest", "--out", str(tmp_path)])
        == 2
    )
    assert "unknown policy fastest" in capsys.readouterr().err
    assert (
        _netgpt(
            [
                "bench",
                "experts",
                "--quick",
                "--data",
                str(tmp_path / "nope"),
                "--out",
                str(tmp_path),
            ]
        )
        == 2
    )
    assert "--data" in capsys.readouterr().err


def test_interference_slows_every_request_on_a_busy_expert():
    """One expert, more load → longer decode for everyone (the simulator's interference)."""
    prof = load_profile(PROFILE_DIR / f"{GPU_BOX.experts[0]}.json")
    slos = [SloClass(1.0, None, None)]
    q = QualityTable({}, "assumed")
    medians = []
    for rate in (0.05, 1.0):
        reqs = poisson(300, rate, random.Random(1), slos, None)
        outs, _ = simulate(reqs, [prof], q, "least_loaded", 1, PolicyState(), CloudProfile())
        per_token = sorted(
            (o.total_s - o.ttft_s) / max(r.output_tokens - 1, 1)
            for o, r in zip(sorted(outs, key=lambda o: o.rid), reqs, strict=True)
            if r.output_tokens > 1
        )
        medians.append(per_token[len(per_token) // 2])
    assert medians[1] > 1.2 * medians[0]
    assert medians[0] == pytest.approx(prof.tpot_s, rel=0.25)


def test_every_profile_states_its_source():
    for path in PROFILE_DIR.glob("*.json"):
        p = load_profile(path)
        assert p.source and (p.measured or "assumption" in p.source)


def test_a_deadline_is_met_by_the_whole_answer_only():
    prof = load_profile(PROFILE_DIR / f"{GPU_BOX.experts[1]}.json")
    q = QualityTable({}, "assumed")
    from bench.experts.workload import SimRequest

    def one(deadline: float) -> bool:
        req = SimRequest(0, 0.0, 500, 100, 100, "simple", None, None, deadline)
        outs, _ = simulate([req], [prof], q, "impact", 1, PolicyState(), CloudProfile())
        assert outs[0].target == prof.name or deadline < 1.0
        return outs[0].met

    assert one(60.0)
    assert not one(0.05)  # nothing, not even the cloud, answers 100 tokens in 50 ms


def test_without_data_the_report_says_what_is_assumed(tmp_path: Path):
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "out"
    argv = [
        "bench",
        "experts",
        "--quick",
        "--requests",
        "150",
        "--no-plots",
        "--policies",
        "weighted,impact",
        "--data",
        str(empty),
        "--out",
        str(out),
    ]
    assert _netgpt(argv) == 0
    rows = json.loads((out / "results.json").read_text())
    assert {r["workload"] for r in rows} == {"poisson"}
    report = (out / "report.md").read_text()
    assert "quality per expert and request type: assumed" in report
    assert "no Azure traces" in report and "cloud call time: assumed" in report
