"""report.md and PNG plots for ``netgpt bench experts``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.experts.run import SCENARIOS, Options, expert_profiles
from bench.experts.sim import SCRAPE_INTERVAL_S

OURS = ("impact", "learned")
BASELINES = ("least_loaded", "weighted")


def _fmt_row(r: dict[str, Any]) -> str:
    return (
        f"| {r['policy']} | {r['utilisation']:.2f} | {r['slo_miss_rate']:.3f} ± {r['slo_miss_rate_sd']:.3f} "
        f"| {r['mean_qos']:.3f} ± {r['mean_qos_sd']:.3f} | {r.get('mean_quality', 0.0):.3f} "
        f"| {r['p50_s']:.2f} | {r['p99_s']:.2f} "
        f"| {r['cloud_share']:.3f} | {r['busy_share']:.2f} |"
    )


def headline(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The issue's target on the Azure traces at ≥ 80% utilisation, met or not, per setting."""
    out = []
    keyed = {(r["policy"], r["workload"], r["utilisation"]): r for r in rows}
    settings = sorted(
        {
            (r["workload"], r["utilisation"])
            for r in rows
            if r["workload"].startswith("azure") and r["utilisation"] >= 0.8
        }
    )
    for workload, util in settings:
        base = [keyed.get((b, workload, util)) for b in BASELINES]
        if any(b is None for b in base):
            continue
        for ours in OURS:
            r = keyed.get((ours, workload, util))
            if r is None:
                continue
            miss_ok = all(r["slo_miss_rate"] <= 0.5 * b["slo_miss_rate"] for b in base if b)
            qos_ok = all(r["mean_qos"] >= b["mean_qos"] for b in base if b)
            ratio = ", ".join(
                f"{b['policy']} {b['slo_miss_rate']:.3f} (×{r['slo_miss_rate'] / b['slo_miss_rate']:.2f})"
                if b["slo_miss_rate"] > 0
                else f"{b['policy']} 0"
                for b in base
                if b
            )
            verdict = "met" if miss_ok and qos_ok else "NOT met"
            out.append(
                f"- {workload} at {util:.2f}: **{ours}** miss {r['slo_miss_rate']:.3f} vs {ratio}; "
                f"QoS {r['mean_qos']:.3f} vs "
                + ", ".join(f"{b['mean_qos']:.3f}" for b in base if b)
                + f" → {verdict}"
                + ("" if miss_ok else " (miss rate not at most half)")
                + ("" if qos_ok else " (QoS lower)")
            )
    return out


def write_report(
    out: Path, rows: Sequence[dict[str, Any]], opts: Options, plots: bool = True
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    scenario = SCENARIOS[opts.scenario]
    lines = [
        "# Placement across edge experts: simulator report",
        "",
        f"Command: `netgpt bench experts{' --quick' if opts.quick else ''} --seeds {opts.seeds} "
        f"--requests {opts.requests} --out {out}`. Seeds {1}..{opts.seeds} per setting "
        "(mean ± standard deviation over seeds). Every placement is made by the gateway's own "
        "`gateway.routing.placement.place`; the cloud decision by its `cloud_wins`.",
        "",
        "## What is recorded, measured, assumed, simulated",
        "",
        f"- Scenario **{scenario.name}**: {scenario.description}.",
        "- Arrivals and sizes: the Azure LLM inference trace (Patel et al., Splitwise, ISCA 2024; "
        "a window of consecutive requests per seed, time-scaled to the target utilisation, bursts "
        "kept) — recorded; Poisson arrivals with sizes drawn from the conversation trace — "
        "simulated. Utilisation = offered requests/s ÷ the experts' summed throughput at full "
        "concurrency for the mean request.",
        "- Request type: a BFCL v1 category drawn in BFCL's proportions (simulated: the trace "
        "has no text). "
        + (
            "With replays (`--quality replay`, the default) each request stands for one BFCL v1 "
            "request of its type (drawn per seed, the same for every policy), and the answer is "
            "worth 1 if the serving model's **recorded output** for that request passes the BFCL "
            "AST checker, else 0 (a model without recorded outputs: its per-category accuracy). "
            "The gateway's belief (what placement reads) is the per-category accuracy of the "
            "same recorded outcomes. "
            if opts.quality == "replay"
            else "Quality of an expert on a type: the recorded BFCL v1 accuracy of the model it "
            "serves on that category (`--quality category`). "
        )
        + "QoS of a request = what its answer is worth if it meets its SLO, else 0; *quality* "
        "(in results.json) = the same, SLO aside. Which source each model used is in the notes.",
        "- SLOs: "
        + "; ".join(
            f"{c.share:.0%} with TTFT ≤ {c.ttft_s} s and TPOT ≤ {c.tpot_s} s" for c in scenario.slos
        )
        + " (llm-d's two objectives). Met = both met.",
        "- Expert speed: profiles below; interference = per-token decode time grows with the "
        "number of running requests (linear + quadratic) and while another prompt is being "
        "prefilled; per-request lognormal noise. The gateway's latency model is linear and "
        "learns online, so it is never exactly right.",
        f"- The gateway's view: exact in-flight counts, server gauges refreshed every "
        f"{SCRAPE_INTERVAL_S * 1000:.0f} ms, per running request its remaining tokens "
        "(estimated from an output-length guess with lognormal error σ 0.5) and SLO slack.",
        f"- Cloud ({opts.cloud_model}): RTT 60 ms + prompt upload at 20 Mbit/s + a call time: "
        "with replays the recorded latency of the request's BFCL item, and its recorded answer "
        "and token counts (`cloud_tokens_in/out` per request in results.json); otherwise one "
        "drawn from the model's recorded BFCL latencies and its per-category accuracy (an "
        "assumed lognormal without the data). It takes a request when `cloud_wins` says so (no "
        "expert predicted to meet the SLO, the cloud's median estimate does).",
        "",
        "### Expert profiles",
        "",
        "| expert | model (quality) | hardware | slots | TPOT alone | prefill /1k tok | measured | source |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for p in expert_profiles(scenario, opts.expert_models):
        lines.append(
            f"| {p.name} | {p.model} | {p.hardware} | {p.slots} | {p.tpot_s * 1000:.1f} ms "
            f"| {p.prefill_s_per_1k:.3f} s | {'yes' if p.measured else 'no'} | {p.source} |"
        )
    lines += ["", "## The target: Azure trace at ≥ 80% utilisation", ""]
    lines += headline(rows) or ["- (no Azure trace rows: run with the data)"]
    for workload in sorted({r["workload"] for r in rows}):
        lines += [
            "",
            f"## {workload}",
            "",
            "| policy | util | SLO miss rate | mean QoS | quality | p50 s | p99 s | cloud share "
            "| busy share |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        lines += [_fmt_row(r) for r in rows if r["workload"] == workload]
    meta = _learned_meta(opts)
    if meta:
        lines += ["", "## The learned policy's training", ""] + _training_lines(meta)
    if opts.notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in opts.notes]
    if plots:
        names = _plots(out, rows)
        if meta:
            names.append(_training_plot(out, meta))
        lines += ["", "## Plots", ""] + [f"![{n}]({n})" for n in names]
    (out / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _plots(out: Path, rows: Sequence[dict[str, Any]]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    workloads = sorted({r["workload"] for r in rows})
    policies = list(dict.fromkeys(r["policy"] for r in rows))
    names = []
    for key, label in (
        ("slo_miss_rate", "SLO miss rate"),
        ("mean_qos", "mean QoS"),
        ("p99_s", "p99 latency (s)"),
    ):
        fig, axes = plt.subplots(
            1, len(workloads), figsize=(4.2 * len(workloads), 3.4), squeeze=False
        )
        for ax, wl in zip(axes[0], workloads, strict=True):
            for pol in policies:
                pts = sorted(
                    (r["utilisation"], r[key])
                    for r in rows
                    if r["workload"] == wl and r["policy"] == pol
                )
                ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=pol)
            ax.set_title(wl)
            ax.set_xlabel("utilisation")
            ax.set_ylabel(label)
            ax.grid(alpha=0.3)
        axes[0][0].legend(fontsize=7)
        fig.tight_layout()
        name = f"{key}.png"
        fig.savefig(out / name, dpi=110)
        plt.close(fig)
        names.append(name)
    return names


def _learned_meta(opts: Options) -> dict[str, Any] | None:
    if "learned" not in opts.policies:
        return None
    from gateway.routing.placement.learned_model import load_policy

    try:
        return load_policy(opts.learned_path).meta
    except (FileNotFoundError, ValueError):
        return None


def _training_lines(meta: dict[str, Any]) -> list[str]:
    curve = meta.get("curve", [])
    bc = meta.get("bc_curve", [])
    teacher = meta.get("teacher_on_training_episodes", {})
    chosen = meta.get("chosen_iteration")
    lines = [
        f"Trained with `{meta.get('trained', '?')}` in {meta.get('elapsed_s', 0):.0f} s "
        "(2 shared cores): behaviour cloning from the impact policy, then REINFORCE in this "
        "simulator on the first half of the traces (seeds ≥ 100); evaluated greedily after each "
        "iteration on training episodes; exported: iteration "
        f"{chosen} ({meta.get('selection', '')}).",
        "",
    ]
    if bc:
        lines.append(
            f"- Behaviour cloning: agreement with the impact policy {bc[0]['agreement']:.1%} "
            f"→ {bc[-1]['agreement']:.1%} over {bc[-1]['step'] + 1} steps."
        )
    if teacher:
        lines.append(
            f"- Impact policy on the same training episodes: QoS {teacher['mean_qos']:.3f}, "
            f"SLO miss rate {teacher['slo_miss_rate']:.3f}."
        )
    lines += [
        "",
        "| iteration | phase | greedy mean QoS | greedy SLO miss rate | sampled QoS |",
        "|---|---|---|---|---|",
    ]
    for c in curve:
        sampled = "" if c.get("sampled_qos") is None else f"{c['sampled_qos']:.3f}"
        lines.append(
            f"| {c['iteration']} | {c['phase']} | {c['mean_qos']:.3f} "
            f"| {c['slo_miss_rate']:.3f} | {sampled} |"
        )
    return lines


def _training_plot(out: Path, meta: dict[str, Any]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.4))
    bc = meta.get("bc_curve", [])
    ax1.plot([b["step"] for b in bc], [b["agreement"] for b in bc], marker="o")
    ax1.set_xlabel("behaviour-cloning step")
    ax1.set_ylabel("agreement with impact policy")
    ax1.grid(alpha=0.3)
    curve = meta.get("curve", [])
    its = [c["iteration"] for c in curve]
    ax2.plot(its, [c["mean_qos"] for c in curve], marker="o", label="greedy mean QoS")
    ax2.plot(its, [c["slo_miss_rate"] for c in curve], marker="s", label="greedy SLO miss rate")
    teacher = meta.get("teacher_on_training_episodes")
    if teacher:
        ax2.axhline(teacher["mean_qos"], ls="--", color="C0", alpha=0.5, label="impact QoS")
        ax2.axhline(teacher["slo_miss_rate"], ls="--", color="C1", alpha=0.5, label="impact miss")
    ax2.set_xlabel("policy-gradient iteration (0 = cloned)")
    ax2.grid(alpha=0.3)
    ax2.legend(fontsize=7)
    fig.tight_layout()
    name = "training_curve.png"
    fig.savefig(out / name, dpi=110)
    plt.close(fig)
    return name
