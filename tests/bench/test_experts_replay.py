"""The experts simulator answering with recorded per-request outputs (replays).

The data folder is written here: BFCL-shaped requests (tests/bench/conftest.py) and recorded
result lines for an xLAM expert and the gpt-4o cloud in their own formats, right or wrong by
construction. The shared data is never read.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import pytest

from bench.cli import register
from bench.common.replay import CATEGORIES
from bench.experts.profiles import profile
from bench.experts.recorded import load_answers
from bench.experts.sim import CloudProfile, simulate
from bench.experts.workload import QualityTable, SimRequest
from gateway.routing.placement import PolicyState
from tests.bench.conftest import write_dataset

EDGE = "Salesforce_xLAM-1b-fc-r"  # the model of the xlam-1b-l4 profile
CLOUD = "gpt-4o-2024-08-06-FC"
HERMES = "NousResearch_Hermes-2-Pro-Llama-3-8B"  # no recorded outputs written: the fallback
PER_CATEGORY = 4
RIGHT = [{"city": "Oslo", "days": 3}]
PARALLEL = [{"city": "Oslo", "days": 3}, {"city": "Cork", "days": 1}]


def _args(category: str, right: bool) -> list[dict[str, object]]:
    if category == "relevance":
        return [] if right else RIGHT  # right: no call at all
    calls = PARALLEL if category.startswith("parallel") else RIGHT
    return calls if right else [{"city": "Lima", "days": 3}]


def edge_right(category: str, i: int) -> bool:
    return i % 2 == 0


def cloud_right(category: str, i: int) -> bool:
    return i != 3


def cloud_latency(i: int) -> float:
    return 0.2 + 0.1 * i


def _write_results(root: Path) -> None:
    for model in (EDGE, CLOUD):
        folder = root / "outcomes" / "results" / model
        folder.mkdir(parents=True)
        for category in CATEGORIES:
            lines = []
            for i in range(PER_CATEGORY):
                pid = f"{category}_{i}"
                if model == EDGE:
                    calls = [{"name": "weather.get", "arguments": a}
                             for a in _args(category, edge_right(category, i))]
                    raw: object = json.dumps({"tool_calls": calls}) if calls else "No tool fits."
                    lines.append({"id": pid, "result": raw})
                else:
                    calls = _args(category, cloud_right(category, i))
                    raw = ([{"weather_get": json.dumps(a)} for a in calls] if calls
                           else "None of these tools fits.")
                    lines.append({"id": pid, "result": raw, "latency": cloud_latency(i),
                                  "input_token_count": 100 + i, "output_token_count": 10 + i})
            path = folder / f"gorilla_openfunctions_v1_test_{category}_result.json"
            path.write_text("\n".join(json.dumps(x) for x in lines), encoding="utf-8")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = write_dataset(tmp_path_factory.mktemp("experts-replay"), per_category=PER_CATEGORY)
    _write_results(root)
    return root


def test_recorded_outputs_are_judged_per_request(data: Path) -> None:
    answers = load_answers(data, [EDGE, HERMES, CLOUD])
    assert set(answers.by_model) == {EDGE, CLOUD}
    for category in CATEGORIES:
        for i in range(PER_CATEGORY):
            pid = f"{category}_{i}"
            assert answers.by_model[EDGE][pid].correct is edge_right(category, i), pid
            cloud = answers.by_model[CLOUD][pid]
            assert cloud.correct is cloud_right(category, i), pid
            assert (cloud.latency_s, cloud.input_tokens, cloud.output_tokens) == (
                pytest.approx(cloud_latency(i)), 100 + i, 10 + i)
    assert answers.ids_by_type["simple"] == tuple(f"simple_{i}" for i in range(PER_CATEGORY))
    assert "recorded per-request outputs" in answers.sources[EDGE]
    assert "10/20 right" in answers.sources[EDGE]  # every other answer, by construction
    assert answers.sources[HERMES].startswith("per-category accuracy (no recorded outputs")
    # the gateway's belief: per-category accuracy of the same recorded answers
    beliefs = answers.beliefs(QualityTable({(HERMES, "simple"): 0.7}, "table"))
    assert beliefs.get(EDGE, "simple") == 0.5 and beliefs.get(CLOUD, "simple") == 0.75
    assert beliefs.get(HERMES, "simple") == 0.7  # the fallback stays


def test_without_requests_or_data_every_model_falls_back(data: Path, tmp_path: Path) -> None:
    assert load_answers(None, [EDGE]).by_model == {}
    only_results = tmp_path / "only-results"
    _write_results(only_results)  # recorded outputs, but no BFCL requests to judge them by
    answers = load_answers(only_results, [EDGE])
    assert answers.by_model == {} and "no BFCL v1 requests" in answers.sources[EDGE]


def _req(rid: int, t: float, pid: str, rtype: str, prompt: int = 300) -> SimRequest:
    return SimRequest(rid, t, prompt, 20, 20, rtype, None, None, prompt_id=pid)


def test_the_simulator_answers_with_the_recorded_outcome_of_each_request(data: Path) -> None:
    answers = load_answers(data, [EDGE, CLOUD])
    expert = profile("xlam-1b-l4")
    assert expert.model == EDGE
    cloud = CloudProfile(model=CLOUD)
    # light load; the last two prompts exceed the expert's context, so the cloud takes them
    reqs = [_req(k, 2.0 * k, f"simple_{k % PER_CATEGORY}", "simple") for k in range(8)]
    reqs += [_req(8, 20.0, "simple_3", "simple", prompt=9000),
             _req(9, 22.0, "simple_1", "simple", prompt=9000)]
    table = answers.beliefs(QualityTable({}, "assumed"))
    outs, _ = simulate(reqs, [expert], table, "impact", 1, PolicyState(), cloud, answers=answers)
    by_rid = {o.rid: o for o in outs}
    for req in reqs[:8]:
        out = by_rid[req.rid]
        assert out.target == expert.name and out.met
        assert out.quality == out.qos == float(edge_right("simple", int(req.prompt_id[-1])))
    wrong, right = by_rid[8], by_rid[9]
    assert wrong.target == right.target == "cloud"
    assert (wrong.quality, right.quality) == (0.0, 1.0)  # gpt-4o's recorded answers
    assert (wrong.tokens_in, wrong.tokens_out) == (103, 13)
    # the recorded call time of that very request after the network's share
    assert wrong.ttft_s == pytest.approx(cloud.network_s(9000) + cloud_latency(3))
    assert right.ttft_s == pytest.approx(cloud.network_s(9000) + cloud_latency(1))
    # without answers the same run is worth the per-category belief instead
    plain, _ = simulate(reqs, [expert], table, "impact", 1, PolicyState(), cloud)
    assert {o.quality for o in plain if o.target != "cloud"} == {0.5}


def test_every_request_stands_for_a_bfcl_item_of_its_type(data: Path) -> None:
    answers = load_answers(data, [EDGE, CLOUD])
    reqs = [_req(k, float(k), "", CATEGORIES[k % 5]) for k in range(50)]
    answers.assign(reqs, random.Random(3))
    assert all(r.prompt_id and r.prompt_id.startswith(r.rtype + "_") for r in reqs)
    # parallel_function_1 must not pass for parallel_multiple_function_1's type and vice versa
    assert len({r.prompt_id for r in reqs}) > 10


def _netgpt(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="netgpt")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return int(args.func(args))


def test_cli_reports_which_source_each_model_used(data: Path, tmp_path: Path) -> None:
    base = ["bench", "experts", "--quick", "--requests", "120", "--no-plots", "--policies",
            "least_loaded,impact", "--data", str(data)]
    out = tmp_path / "replay"
    assert _netgpt([*base, "--out", str(out), "--expert-model",
                    f"hermes-8b-a10g={EDGE}"]) == 0
    report = (out / "report.md").read_text()
    assert f"{EDGE}: recorded per-request outputs" in report
    assert f"{CLOUD}: recorded per-request outputs" in report
    # glm-9b keeps its own model, which has no recorded outputs here: the fallback, said so
    assert "THUDM_glm-4-9b-chat: per-category accuracy (no recorded outputs" in report
    assert f"| hermes-8b-a10g | {EDGE} |" in report  # the expert now serves the named model
    assert "cloud call time: the recorded latency of each request's BFCL item" in report
    rows = json.loads((out / "results.json").read_text())
    assert all(0.0 <= r["mean_quality"] <= 1.0 for r in rows)
    assert any(r["cloud_tokens_in"] > 0 for r in rows if r["cloud_share"] > 0)

    category = tmp_path / "category"
    assert _netgpt([*base, "--out", str(category), "--quality", "category"]) == 0
    text = (category / "report.md").read_text()
    assert "per-category accuracy (--quality category)" in text
    assert all(r["cloud_tokens_in"] == 0 for r in json.loads((category / "results.json").read_text()))


def test_cli_refuses_an_unknown_expert(data: Path, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["bench", "experts", "--quick", "--no-plots", "--data", str(data), "--out",
            str(tmp_path)]
    assert _netgpt([*argv, "--expert-model", f"nope={EDGE}"]) == 2
    assert "no expert nope" in capsys.readouterr().err
    assert _netgpt([*argv, "--expert-model", EDGE]) == 2
    assert "EXPERT=MODEL" in capsys.readouterr().err
