"""``report.md`` of a testbed run: measured next to predicted, per policy."""

from __future__ import annotations

from typing import Any


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}%"


def _s(x: float | None) -> str:
    return "—" if x is None else f"{x:.2f}"


def _spread(d: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.0f}" for k, v in sorted(d.items()))


def markdown(doc: dict[str, Any], command: str) -> str:
    runs = [r for r in doc["runs"] if not r["killed"]]
    killed = [r for r in doc["runs"] if r["killed"]]
    pred = doc["predicted"]
    lines = [
        "| policy | SLO misses measured | predicted (sim, seeds min–max) | p50 / p99 measured (s) "
        "| p99 predicted (s) | placements measured | placements predicted | lost | reasons (measured) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        p = pred.get(r["policy"], {})
        lines.append(
            f"| {r['policy']} | {_pct(r['slo_miss_rate'])} | {_pct(p.get('slo_miss_rate'))} "
            f"({_pct(p.get('slo_miss_rate_min'))}–{_pct(p.get('slo_miss_rate_max'))}) "
            f"| {_s(r['p50_s'])} / {_s(r['p99_s'])} | {_s(p.get('p99_s'))} "
            f"| {_spread(r['placements'])} | {_spread(p.get('placements', {}))} | {r['lost']} "
            f"| {_spread(r['reasons'])} |"
        )
    mape = ["| policy run | expert | observations | MAPE (all) | MAPE (recent) |", "|---|---|---|---|---|"]
    for r in doc["runs"]:
        for name, m in r["latency_model"].items():
            label = r["policy"] + (f" ({r['killed']} killed)" if r["killed"] else "")
            mape.append(f"| {label} | {name} | {m['observations']} | {_pct(m['mape'])} | {_pct(m['recent_mape'])} |")
    prof = ["| expert | slots | tpot alone (ms) | tpot slowdown per extra | prefill (ms/token) | overhead (s) |",
            "|---|---|---|---|---|---|"]
    for p in doc["profiles"]:
        prof.append(f"| {p['name']} | {p['slots']} | {1000 * p['tpot_s']:.1f} | {p['tpot_slowdown_per_extra']:.2f} "
                    f"| {p['prefill_s_per_1k']:.2f} | {p['ttft_s']:.3f} |")
    out = [
        f"Command: `{command}`",
        "",
        f"Setting: {len(doc['experts'])} real llama-server experts "
        f"({', '.join(e['name'] + ' ' + e['model'] + ' --parallel ' + str(e['parallel']) for e in doc['experts'])}, "
        f"{doc['options']['threads']} thread each), {doc['arrivals']} Poisson arrivals over "
        f"{doc['options']['duration_s']:.0f} s at {doc['rate_rps']:.2f} req/s "
        f"({100 * doc['options']['utilisation']:.0f}% of the calibrated capacity {doc['capacity_rps']:.2f} req/s), "
        f"deadline `x-netgpt-deadline-ms: {doc['deadline_ms']:.0f}`, prompts ≈ {doc['prompt_tokens']} tokens, "
        f"drafts ≈ {doc['expected_output_tokens']} tokens. Cloud: a fake with a fixed "
        f"{doc['options']['cloud_delay_s']} s delay (simulated). τ = 0 (q_cloud 0): every valid draft is kept, "
        "so the runs compare placement. The machine's 2 cores were shared with other jobs during the run.",
        "",
        "Calibrated profiles (server timings, concurrency 1 and the slot count):",
        "",
        *prof,
        "",
        "SLO misses (answer later than the deadline, or not answered) per policy, measured on the testbed "
        "next to the simulator's prediction for the same experts, arrivals and deadline:",
        "",
        *lines,
        "",
        "Latency model error on the testbed (`netgpt_latency_model_mape`; each prediction scored before the "
        "model learns from that call; 'recent' weighs the last ~50):",
        "",
        *mape,
    ]
    for r in killed:
        out += [
            "",
            f"Kill: policy {r['policy']}, expert `{r['killed']}` SIGKILLed half way: {r['requests']} requests, "
            f"{r['answered']} answered, **{r['lost']} lost**; reasons {r['reasons']}; "
            f"placements {_spread(r['placements'])}.",
        ]
    return "\n".join(out) + "\n"
