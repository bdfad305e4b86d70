"""The testbed's calibration without server timings (a vLLM expert: client wall times and usage),
the heterogeneous setting's pure parts (engines, experts file, per-expert figures)."""

from __future__ import annotations

import argparse
import random
import tomllib
from pathlib import Path

import pytest

from bench.experts.testbed import cli
from bench.experts.testbed.calibrate import (
    ExpertSpec,
    fit_wall,
    has_timings,
    outputs_of,
    profile_from,
)
from bench.experts.testbed.experts import calibration_fits, experts_toml, vllm_env
from bench.experts.testbed.report import markdown
from bench.experts.testbed.run import Options, PolicyRun, Sent, parse_engines, per_expert

TTFT, PREFILL_PER_1K, TPOT = 0.30, 2.0, 0.04  # s, s per 1000 prompt tokens, s per output token


def _wall(prompt: int, output: int, concurrency: int = 1, slowdown: float = 0.0) -> float:
    return TTFT + PREFILL_PER_1K * prompt / 1000 + TPOT * (1 + slowdown * (concurrency - 1)) * (output - 1)


def _vllm_points(noise: float = 0.0, seed: int = 0, slowdown: float = 0.5) -> list[dict[str, object]]:
    """What ``calibrate_one`` records from a vLLM expert: usage counts, wall times, no timings."""
    rng = random.Random(seed)
    out: list[dict[str, object]] = []
    for concurrency, probe, n in ((1, False, 6), (2, False, 6), (1, True, 4)):
        for _ in range(n):
            prompt, output = rng.choice((250, 330, 410)), 1 if probe else rng.randint(20, 60)
            wall = _wall(prompt, output, concurrency, slowdown) * (1 + rng.uniform(-noise, noise))
            out.append({"concurrency": concurrency, "probe": probe, "wall_s": wall, "prompt_tokens": prompt,
                        "completion_tokens": output, "prompt_n": None, "prompt_ms": None, "predicted_n": None,
                        "predicted_ms": None, "predicted_per_token_ms": None})
    return out


def test_the_wall_time_fit_recovers_the_coefficients_of_noise_free_calls():
    fit = fit_wall(_vllm_points())
    assert fit.ttft_s == pytest.approx(TTFT, rel=1e-6)
    assert fit.prefill_s_per_1k == pytest.approx(PREFILL_PER_1K, rel=1e-6)
    assert fit.tpot_s == pytest.approx(TPOT, rel=1e-6)
    assert fit.mape < 1e-9 and fit.points == 10  # the 6 calls and 4 probes alone, not the 6 at concurrency 2


def test_the_wall_time_fit_stays_close_under_noise_and_reports_its_error():
    fit = fit_wall(_vllm_points(noise=0.05, seed=3))
    assert fit.tpot_s == pytest.approx(TPOT, rel=0.15)
    assert 0.0 < fit.mape < 0.06
    assert abs(fit.predict(330, 40) - _wall(330, 40)) / _wall(330, 40) < 0.06


def test_a_negative_coefficient_is_dropped_and_the_rest_refitted():
    # prompt sizes anti-correlated with time: the unconstrained fit gives a negative per-token prefill
    points = [{"concurrency": 1, "wall_s": 0.5 + 0.05 * (n - 1) - 0.001 * p, "prompt_tokens": p,
               "completion_tokens": n} for p, n in ((100, 1), (300, 1), (100, 30), (300, 30), (200, 50))]
    fit = fit_wall(points)
    assert fit.prefill_s_per_1k == 0.0
    assert fit.ttft_s > 0 and fit.tpot_s > 0


def test_the_wall_time_fit_refuses_outputs_of_one_length():
    points = [{"concurrency": 1, "wall_s": 1.0 + i / 10, "prompt_tokens": 300, "completion_tokens": 40}
              for i in range(5)]
    with pytest.raises(ValueError, match="distinct output lengths"):
        fit_wall(points)


def test_failed_probes_are_recorded_but_not_fitted():
    points = _vllm_points() + [{"concurrency": 1, "probe": True, "error": "edge: 400 tool call not parsed"}]
    assert fit_wall(points).points == 10
    assert 1 not in outputs_of(points) and len(outputs_of(points)) == 12  # probes are not draft lengths


def test_a_vllm_expert_is_calibrated_from_wall_times():
    points = _vllm_points()
    assert not has_timings(points)
    prof = profile_from(ExpertSpec("smol-vllm", "smollm2", 2, "vllm"), points, threads=1)
    assert prof.flavor == "vllm" and prof.slots == 2 and prof.context_limit == 2048
    assert prof.tpot_s == pytest.approx(TPOT, rel=1e-6)
    assert prof.ttft_s == pytest.approx(TTFT, rel=1e-6)
    assert prof.tpot_slowdown_per_extra == pytest.approx(0.5, rel=1e-6)  # from the calls at concurrency 2
    assert "wall times" in prof.source
    # the profile predicts what the fake server did at full concurrency
    assert prof.service_s(2, 330, 40) == pytest.approx(_wall(330, 40, 2, 0.5), rel=1e-6)


def test_llama_server_timings_win_over_the_wall_fit_and_probes_are_left_out():
    timed = [{"concurrency": c, "probe": False, "wall_s": 1.0 + 0.03 * 39, "prompt_tokens": 300,
              "completion_tokens": 40, "prompt_n": 60, "prompt_ms": 300.0, "predicted_n": 40,
              "predicted_ms": 40 * 30.0 * c, "predicted_per_token_ms": 30.0 * c} for c in (1, 1, 2, 2)]
    probe = {"concurrency": 1, "probe": True, "wall_s": 0.4, "prompt_tokens": 300, "completion_tokens": 1,
             "prompt_n": 60, "prompt_ms": 300.0, "predicted_n": 1, "predicted_ms": 5.0,
             "predicted_per_token_ms": 5.0}
    assert has_timings([*timed, probe])
    prof = profile_from(ExpertSpec("smol-llamacpp", "smollm2", 2), [*timed, probe], threads=1)
    assert prof.tpot_s == pytest.approx(0.030)  # the probe's 5 ms per token is not a decode speed
    assert prof.tpot_slowdown_per_extra == pytest.approx(1.0)
    assert "server timings" in prof.source


def test_engines_option_builds_one_expert_per_engine():
    assert parse_engines("llamacpp,vllm:4") == (("llamacpp", 2), ("vllm", 4))
    with pytest.raises(ValueError, match="unknown engine 'tgi'"):
        parse_engines("llamacpp,tgi")
    with pytest.raises(ValueError, match="at least 1"):
        parse_engines("vllm:0")
    specs = Options(out=Path("x"), engines=parse_engines("llamacpp,vllm")).experts()
    assert [(s.name, s.engine, s.parallel) for s in specs] == [("smol-llamacpp", "llamacpp", 2),
                                                               ("smol-vllm", "vllm", 2)]
    twice = Options(out=Path("x"), engines=parse_engines("vllm,vllm:1")).experts()
    assert [s.name for s in twice] == ["smol-vllm-1", "smol-vllm-2"]
    assert [s.name for s in Options(out=Path("x")).experts()] == ["smol-p1", "smol-p2"]  # homogeneous default


def test_a_bad_engines_option_exits_2_before_starting_anything(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    assert "--engines" in parser.format_help()
    args = parser.parse_args(["--out", str(tmp_path / "tb"), "--engines", "llamacpp,sglang"])
    assert cli.main(args) == 2
    assert "unknown engine 'sglang'" in capsys.readouterr().err
    assert not (tmp_path / "tb").exists()


def test_the_experts_file_gives_each_expert_its_engine_as_flavour():
    specs = [ExpertSpec("smol-llamacpp", "smollm2", 2), ExpertSpec("smol-vllm", "smollm2", 2, "vllm")]
    points = _vllm_points()
    profiles = [profile_from(s, points, threads=1, method="wall") for s in specs]
    text = experts_toml(specs, {"smol-llamacpp": "http://a/v1", "smol-vllm": "http://b/v1"}, profiles)
    doc = tomllib.loads(text)["expert"]
    assert [(e["name"], e["flavor"], e["context_limit"]) for e in doc] == [
        ("smol-llamacpp", "llamacpp", 4096), ("smol-vllm", "vllm", 2048)]
    assert doc[1]["latency"]["tpot_s"] == pytest.approx(TPOT, rel=1e-5)
    fits = calibration_fits(specs[1:], {"smol-vllm": points})
    assert fits["smol-vllm"]["method"] == "wall" and fits["smol-vllm"]["wall_fit"]["points"] == 10
    assert vllm_env(1)["OMP_NUM_THREADS"] == "1"


def test_per_expert_figures_split_latency_and_throughput():
    sent = [Sent(0.0, 200, 1.0, "edge", "x", "fast", output_tokens=40),
            Sent(1.0, 200, 3.0, "edge", "x", "slow", output_tokens=30),
            Sent(2.0, 200, 2.0, "edge", "x", "fast", output_tokens=20),
            Sent(3.0, 200, 1.5, "cloud", "slo_cloud", None),
            Sent(5.0, 0, 5.0, None, None, None, "ClientConnectorError")]
    out = per_expert(sent, deadline_s=2.5)
    span = 10.0  # first arrival 0 s, last answer 5 + 5 s
    assert out["fast"]["answered"] == 2 and out["fast"]["rps"] == pytest.approx(2 / span)
    assert out["fast"]["output_tokens_per_s"] == pytest.approx(60 / span)
    assert out["slow"]["slo_miss_rate"] == 1.0 and out["fast"]["slo_miss_rate"] == 0.0
    assert out["cloud"]["output_tokens_per_s"] is None
    summary = PolicyRun("impact", None, sent, {}).summary(2.5)
    doc = {"runs": [summary], "predicted": {}, "calibration_fit": {},
           "experts": [{"name": "fast", "model": "smollm2", "parallel": 2, "engine": "llamacpp"},
                       {"name": "slow", "model": "smollm2", "parallel": 2, "engine": "vllm"}],
           "options": {"threads": 1, "duration_s": 20.0, "utilisation": 0.5, "cloud_delay_s": 1.5},
           "arrivals": 5, "rate_rps": 0.25, "capacity_rps": 0.5, "deadline_ms": 2500, "prompt_tokens": 300,
           "expected_output_tokens": 30, "load_average": [1.5, 1.2, 1.0], "profiles": []}
    text = markdown(doc, "netgpt bench testbed --engines llamacpp,vllm --out x")
    assert "| impact | slow | vllm | 1 | 3.00 / 3.00 | 100.0% | 0.10 | 3.00 |" in text
    assert "fast llamacpp smollm2 --parallel 2, slow vllm smollm2 --max-num-seqs 2" in text
    assert "load average at the end 1.50" in text


def test_the_gauge_samples_say_how_fresh_and_how_busy_each_expert_was():
    from bench.experts.testbed.run import gauge_summary

    def load(running, waiting, kv, stale=False, in_flight=0):
        return {"running": running, "waiting": waiting, "kv_usage": kv, "stale": stale, "in_flight": in_flight}

    samples = [{"v": load(1, 0, 0.1, in_flight=1), "l": load(None, None, None)},
               {"v": load(2, 1, 0.3, in_flight=3), "l": load(2, 0, None, in_flight=2)},
               {"v": load(9, 9, 0.9, stale=True, in_flight=2)}]
    out = gauge_summary(samples)
    assert out["v"] == {"samples": 3, "fresh_share": pytest.approx(2 / 3), "max_running": 2, "max_waiting": 1,
                        "max_in_flight": 3, "mean_kv_usage": pytest.approx(0.2)}  # the stale sample is ignored
    assert out["l"]["fresh_share"] == 0.5 and out["l"]["mean_kv_usage"] is None and out["l"]["max_running"] == 2
