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
    engine = {e["name"]: e.get("engine", "llamacpp") for e in doc["experts"]}
    mape = ["| policy run | expert | observations | MAPE (all) | MAPE (recent) | engine |",
            "|---|---|---|---|---|---|"]
    per = ["| policy run | expert | engine | answered | p50 / p99 (s) | SLO misses | answers/s | output tokens/s |",
           "|---|---|---|---|---|---|---|---|"]
    for r in doc["runs"]:
        label = r["policy"] + (f" ({r['killed']} killed)" if r["killed"] else "")
        for name, m in r["latency_model"].items():
            mape.append(f"| {label} | {name} | {m['observations']} | {_pct(m['mape'])} | {_pct(m['recent_mape'])} "
                        f"| {engine.get(name, '—')} |")
        for name, e in r.get("per_expert", {}).items():
            per.append(f"| {label} | {name} | {engine.get(name, 'fake cloud')} | {e['answered']} "
                       f"| {_s(e['p50_s'])} / {_s(e['p99_s'])} | {_pct(e['slo_miss_rate'])} | {_s(e['rps'])} "
                       f"| {_s(e['output_tokens_per_s'])} |")
    gauges = ["| policy run | expert | samples | gauges fresh | max running | max waiting "
              "| max in flight (gateway's count) | mean KV cache use |", "|---|---|---|---|---|---|---|---|"]
    for r in doc["runs"]:
        label = r["policy"] + (f" ({r['killed']} killed)" if r["killed"] else "")
        for name, g in r.get("gauges", {}).items():
            kv = g["mean_kv_usage"]
            gauges.append(f"| {label} | {name} | {g['samples']} | {_pct(g['fresh_share'])} | {g['max_running']} "
                          f"| {g['max_waiting']} | {g['max_in_flight']} | {'—' if kv is None else _pct(kv)} |")
    fits = doc.get("calibration_fit", {})
    prof = ["| expert | engine | calibrated from | slots | tpot alone (ms) | tpot slowdown per extra "
            "| prefill (ms/token) | overhead (s) | wall-time fit MAPE (calls) |",
            "|---|---|---|---|---|---|---|---|---|"]
    for p in doc["profiles"]:
        f = fits.get(p["name"], {})
        wall = f.get("wall_fit")
        prof.append(f"| {p['name']} | {engine.get(p['name'], '—')} | {f.get('method', '—')} | {p['slots']} "
                    f"| {1000 * p['tpot_s']:.1f} | {p['tpot_slowdown_per_extra']:.2f} "
                    f"| {p['prefill_s_per_1k']:.2f} | {p['ttft_s']:.3f} "
                    f"| {_pct(wall['mape']) + ' (' + str(wall['points']) + ')' if wall else '—'} |")
    servers = ", ".join(
        f"{e['name']} {e.get('engine', 'llamacpp')} {e['model']} "
        f"{'--max-num-seqs' if e.get('engine') == 'vllm' else '--parallel'} {e['parallel']}"
        for e in doc["experts"])
    load = doc.get("load_average")
    out = [
        f"Command: `{command}`",
        "",
        f"Setting: {len(doc['experts'])} real experts "
        f"({servers}; {doc['options']['threads']} thread each), {doc['arrivals']} Poisson arrivals over "
        f"{doc['options']['duration_s']:.0f} s at {doc['rate_rps']:.2f} req/s "
        f"({100 * doc['options']['utilisation']:.0f}% of the calibrated capacity {doc['capacity_rps']:.2f} req/s), "
        f"deadline `x-netgpt-deadline-ms: {doc['deadline_ms']:.0f}`, prompts ≈ {doc['prompt_tokens']} tokens, "
        f"drafts ≈ {doc['expected_output_tokens']} tokens (capped at {doc['options'].get('draft_max_tokens', 64)}). Cloud: a fake with a fixed "
        f"{doc['options']['cloud_delay_s']} s delay (simulated). τ = 0 (q_cloud 0): every valid draft is kept, "
        "so the runs compare placement. The machine's 2 cores were shared with other jobs during the run"
        + (f" (load average at the end {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f})." if load else "."),
        "",
        "Calibrated profiles (server timings, or client wall times and usage where the server reports "
        "no timings; concurrency 1 and the slot count; the wall-time fit's error is in-sample):",
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
        "",
        "Per expert (client-side latency of the answers it drafted; throughput over the run's span):",
        "",
        *per,
        "",
        "The servers' gauges as the gateway's placement saw them (`/v1/router/state` sampled every second; "
        "vLLM: `vllm:num_requests_running/waiting`, `vllm:kv_cache_usage_perc`; llama-server: "
        "`llamacpp:requests_processing/deferred`):",
        "",
        *gauges,
    ]
    for r in killed:
        out += [
            "",
            f"Kill: policy {r['policy']}, expert `{r['killed']}` SIGKILLed half way: {r['requests']} requests, "
            f"{r['answered']} answered, **{r['lost']} lost**; reasons {r['reasons']}; "
            f"placements {_spread(r['placements'])}.",
        ]
    return "\n".join(out) + "\n"
