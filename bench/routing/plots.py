"""PNG plots of a run. matplotlib is imported here only (the ``bench`` extra)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bench.common.traces import FAMILIES
from bench.routing.run import RunResult

LABELS = {
    "fcc_broadband": "FCC broadband (US)",
    "ucc_5g": "5G/LTE Cork (measured ping)",
    "mahimahi_cellular": "mahimahi cellular (US)",
    "norway_3g": "Norway 3G HSDPA",
}
AXES = {
    "spend": ("spend_per_1k", "cloud spend (USD per 1,000 requests)"),
    "latency": ("latency_s", "mean latency (s)"),
    "share": ("cloud_share", "cloud share"),
}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def frontier(result: RunResult, axis: str, schedule: str, path: Path) -> Path:
    plt = _pyplot()
    field, xlabel = AXES[axis]
    fig, axes = plt.subplots(2, 2, figsize=(11, 8.5), sharey=True)
    for ax, family in zip(axes.flat, FAMILIES, strict=True):
        curves = result.results[schedule][family].curves()

        def xy(policy: str, curves: dict[str, Any] = curves) -> tuple[list[float], list[float]]:
            pts = curves[policy]
            return [getattr(m, field) for _, m in pts], [m.accuracy for _, m in pts]

        edge, cloud = curves["always_edge"][0][1], curves["always_cloud"][0][1]
        ax.plot(
            [getattr(edge, field), getattr(cloud, field)],
            [edge.accuracy, cloud.accuracy],
            ":",
            color="grey",
            label="random (matched share)",
        )
        ax.plot(*xy("fixed"), "o-", ms=3, color="tab:blue", label="fixed τ (swept)")
        ax.plot(*xy("dynamic"), "s-", ms=3, color="tab:red", label="dynamic τ(z) (λ swept)")
        ax.plot(
            *xy("quantile"),
            "D",
            ms=6,
            mfc="none",
            color="tab:blue",
            label="fixed, quantile-calibrated ρ",
        )
        ax.plot(*xy("budget"), "^", ms=7, color="tab:purple", label="dynamic + budget ρ")
        ax.plot(*xy("always_edge"), "P", ms=9, color="tab:green", label="always edge")
        ax.plot(*xy("always_cloud"), "X", ms=9, color="black", label="always cloud")
        ax.plot(*xy("oracle"), "*", ms=13, color="gold", mec="k", label="oracle")
        ax.set_title(LABELS[family])
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
    for ax in axes[:, 0]:
        ax.set_ylabel("accuracy (BFCL AST, recorded)")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=9)
    fig.suptitle(
        f"Accuracy against {axis} — {result.options.edge_label} → {result.options.cloud_model}, "
        f"prices: {schedule}"
    )
    fig.tight_layout(rect=(0, 0.07, 1, 0.96))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def tau_along_traces(result: RunResult, path: Path) -> Path:
    plt = _pyplot()
    series = result.tau_series
    fig, axes = plt.subplots(3, len(series), figsize=(4.2 * len(series), 7.5), sharex="col")
    axes = np.atleast_2d(axes).reshape(3, len(series))
    for col, s in enumerate(series):
        t = s.arrival_s
        true_bw, true_rtt = s.trace.at(t)
        axes[0, col].plot(t, true_bw * 8 / 1e6, color="lightgray", lw=1, label="trace")
        axes[0, col].plot(
            t, s.est_bw * 8 / 1e6, color="tab:blue", lw=1.2, label="router's estimate"
        )
        axes[0, col].set_yscale("log")
        axes[1, col].plot(t, true_rtt * 1000, color="lightgray", lw=1)
        axes[1, col].plot(t, s.est_rtt * 1000, color="tab:orange", lw=1.2)
        axes[2, col].plot(t, s.tau, color="tab:red", lw=0.5, alpha=0.35, label="τ per request")
        axes[2, col].plot(t, s.tau_ref, color="tab:red", lw=1.8, label="τ, typical request")
        cloud = s.to_cloud
        axes[2, col].scatter(
            t[~cloud], s.scores[~cloud], s=5, color="tab:green", alpha=0.5, label="score, edge"
        )
        axes[2, col].scatter(
            t[cloud], s.scores[cloud], s=8, color="black", marker="x", label="score, cloud"
        )
        axes[0, col].set_title(f"{LABELS[s.trace.family]}\n{s.trace.name[:32]}", fontsize=9)
        axes[2, col].set_xlabel("time on trace (s)")
        axes[2, col].set_ylim(-0.02, 1.02)
    axes[0, 0].set_ylabel("bandwidth (Mbit/s)")
    axes[1, 0].set_ylabel("RTT (ms)")
    axes[2, 0].set_ylabel("τ and scores")
    axes[0, 0].legend(fontsize=8)
    axes[2, 0].legend(fontsize=8, loc="lower left")
    fig.suptitle(f"τ(z) along one trace per family (λ_L = {result.options.reference_lambda}/s)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def tau_vs_network(result: RunResult, path: Path) -> Path:
    plt = _pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for family in FAMILIES:
        rows = result.reference.get(family) or []
        if not rows:
            continue
        rtt = np.concatenate([r[0] for r in rows])
        bw = np.concatenate([r[1] for r in rows])
        tau = np.concatenate([r[2] for r in rows])
        idx = np.random.default_rng(0).choice(len(tau), size=min(3000, len(tau)), replace=False)
        ax1.scatter(rtt[idx] * 1000, tau[idx], s=3, alpha=0.4, label=LABELS[family])
        ax2.scatter(bw[idx] * 8 / 1e6, tau[idx], s=3, alpha=0.4, label=LABELS[family])
    ax1.set_xscale("log")
    ax2.set_xscale("log")
    ax1.set_xlabel("estimated RTT (ms)")
    ax2.set_xlabel("estimated bandwidth (Mbit/s)")
    ax1.set_ylabel("τ(z) per request")
    ax2.legend(fontsize=8, markerscale=3)
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
    fig.suptitle("τ(z) against the network the router saw (every request, list prices)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_all(result: RunResult, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = [
        frontier(result, "spend", "flat", out / "frontier_spend.png"),
        frontier(result, "latency", "flat", out / "frontier_latency.png"),
        frontier(result, "share", "flat", out / "frontier_share.png"),
        frontier(result, "spend", "peak_offpeak", out / "frontier_spend_peak_offpeak.png"),
        tau_along_traces(result, out / "tau_along_traces.png"),
        tau_vs_network(result, out / "tau_vs_network.png"),
    ]
    return paths
