"""The testbed's pure parts: arrivals, the profile fitted from calibration points, the
simulator's prediction for the testbed's setting, the report (the run itself needs real
llama-server experts: `netgpt bench testbed`)."""

from __future__ import annotations

from bench.experts.testbed.predict import predict
from bench.experts.testbed.report import markdown
from bench.experts.testbed.run import ExpertSpec, Options, PolicyRun, Sent, profile_from
from bench.experts.testbed.workload import poisson


def _points(concurrency: int, tpot_ms: float) -> list[dict[str, float]]:
    return [
        {"concurrency": concurrency, "wall_s": 0.05 + 0.2 + 30 * tpot_ms / 1000, "prompt_tokens": 200, "prompt_n": 50,
         "prompt_ms": 200.0, "predicted_n": 30, "predicted_ms": 30 * tpot_ms,
         "predicted_per_token_ms": tpot_ms * (1 + 0.02 * i)}
        for i in range(4)
    ]


def test_poisson_arrivals_have_the_rate_and_are_reproducible():
    a = poisson(5.0, 200.0, seed=3)
    assert a == poisson(5.0, 200.0, seed=3)
    assert 900 < len(a) < 1100
    assert all(x.t_s < y.t_s for x, y in zip(a, a[1:], strict=False))
    assert all(x.body["tools"] and x.body["messages"] for x in a)


def test_the_profile_comes_from_the_server_timings():
    spec = ExpertSpec("p2", "smollm2", 2)
    prof = profile_from(spec, _points(1, 20.0) + _points(2, 30.0), threads=1)
    assert abs(prof.tpot_s - 0.0203) < 0.001
    assert 0.4 < prof.tpot_slowdown_per_extra < 0.6  # 30 ms at 2 against 20 ms alone
    assert abs(prof.prefill_s_per_1k - 1.0) < 1e-9  # 1 ms per prompt token
    assert abs(prof.ttft_s - 0.05) < 0.01  # wall minus the server's own time
    assert prof.slots == 2 and prof.measured


def test_the_prediction_misses_more_under_a_tighter_deadline():
    slow = profile_from(ExpertSpec("slow", "smollm2", 1), _points(1, 40.0), threads=1)
    fast = profile_from(ExpertSpec("fast", "smollm2", 2), _points(1, 15.0) + _points(2, 20.0), threads=1)
    arrivals = poisson(4.0, 30.0, seed=1)
    opts = Options(out=None, sim_seeds=2, cloud_delay_s=1.5)  # type: ignore[arg-type]
    loose = predict([slow, fast], arrivals, 5.0, "impact", 200, [28, 30, 32], opts)
    tight = predict([slow, fast], arrivals, 0.9, "impact", 200, [28, 30, 32], opts)
    assert 0.0 <= loose["slo_miss_rate"] <= tight["slo_miss_rate"] <= 1.0
    assert tight["slo_miss_rate"] > loose["slo_miss_rate"]
    assert abs(sum(loose["placements"].values()) - len(arrivals)) < 1e-9


def test_the_report_puts_measured_next_to_predicted_and_counts_lost_requests():
    sent = [Sent(0.1, 200, 0.5, "edge", "score_above_threshold", "a"),
            Sent(0.2, 200, 2.5, "cloud", "slo_cloud", None),
            Sent(0.3, 0, 1.0, None, None, None, "ClientConnectorError")]
    state = {"experts": {"experts": {"a": {"latency_model": {"observations": 1, "mape": 0.1, "recent_mape": 0.08}}}}}
    run = PolicyRun("impact", None, sent, state).summary(deadline_s=2.0)
    assert run["lost"] == 1 and abs(run["slo_miss_rate"] - 2 / 3) < 1e-9
    assert run["placements"] == {"a": 1, "cloud": 1}
    killed = PolicyRun("impact", "a", sent[:2], state).summary(deadline_s=2.0)
    doc = {
        "runs": [run, killed], "predicted": {"impact": {"slo_miss_rate": 0.5, "slo_miss_rate_min": 0.4,
                                                        "slo_miss_rate_max": 0.6, "p99_s": 2.2,
                                                        "placements": {"a": 2.0}}},
        "experts": [{"name": "a", "model": "smollm2", "parallel": 1}],
        "options": {"threads": 1, "duration_s": 20.0, "utilisation": 0.8, "cloud_delay_s": 1.5},
        "arrivals": 3, "rate_rps": 0.15, "capacity_rps": 0.2, "deadline_ms": 2000, "prompt_tokens": 200,
        "expected_output_tokens": 30,
        "profiles": [{"name": "a", "slots": 1, "tpot_s": 0.02, "tpot_slowdown_per_extra": 0.0,
                      "prefill_s_per_1k": 1.0, "ttft_s": 0.05}],
    }
    text = markdown(doc, "netgpt bench testbed --out x")
    assert "| impact | 66.7% | 50.0% (40.0%–60.0%)" in text
    assert "**0 lost**" in text and "| impact | a | 1 | 10.0% | 8.0% |" in text
