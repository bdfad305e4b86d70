"""PNG figures of the measured signal. matplotlib is imported here only (the ``bench`` extra)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from bench.common.stats import roc_points
from bench.edge_signal.analysis import ALL, Analysis

SHOWN = ("score", "lp_mean", "lp_min", "lp_call_mean", "lp_args_mean", "lp_first")


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def roc(result: Analysis, path: Path) -> Path:
    """Left: ROC of the score and the main features over all requests. Right: the score's ROC
    per BFCL category (categories without right or without wrong drafts are left out)."""
    plt = _pyplot()
    c = result.cols
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 5))
    for name in SHOWN:
        ci = result.auc_all[name][ALL]
        if math.isnan(ci.auc):
            continue
        fpr, tpr = roc_points(c.signals[name], c.correct)
        ax1.plot(fpr, tpr, lw=1.6 if name == "score" else 1.0, label=f"{name} {ci.text()}")
    for category in result.categories:
        m = c.mask(category)
        ci = result.auc_all["score"][category]
        if math.isnan(ci.auc):
            continue
        fpr, tpr = roc_points(c.signals["score"][m], c.correct[m])
        ax2.plot(fpr, tpr, lw=1.2, label=f"{category} (n={ci.n}) {ci.text()}")
    for ax, title in (
        (ax1, "all requests: score and log-prob features"),
        (ax2, "gateway score per BFCL category"),
    ):
        ax.plot([0, 1], [0, 1], ":", color="grey")
        ax.set_xlabel("false-positive rate (wrong drafts kept)")
        ax.set_ylabel("true-positive rate (right drafts kept)")
        ax.set_title(title, fontsize=10)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="lower right")
        else:  # no category has both right and wrong drafts
            ax.text(0.5, 0.5, "no group with both right and wrong drafts", ha="center")
        ax.grid(alpha=0.3)
    fig.suptitle("ROC of the real edge's signal for AST-correct drafts (AUC [95% bootstrap CI])")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def feature_auc(result: Analysis, path: Path) -> Path:
    """AUC with its bootstrap interval for every signal, overall and per category."""
    plt = _pyplot()
    groups = [ALL, *result.categories]
    signals = list(result.auc_all)
    fig, ax = plt.subplots(figsize=(11, 4.8))
    width = 0.8 / len(groups)
    x = np.arange(len(signals))
    for k, group in enumerate(groups):
        cis = [result.auc_all[s][group] for s in signals]
        vals = np.array([ci.auc for ci in cis])
        lo = np.array([ci.auc - ci.low for ci in cis])
        hi = np.array([ci.high - ci.auc for ci in cis])
        ok = np.isfinite(vals)
        if not ok.any():
            continue  # no right (or no wrong) draft in this group
        ax.bar(
            x[ok] + (k - (len(groups) - 1) / 2) * width,
            vals[ok],
            width,
            yerr=np.vstack([lo[ok], hi[ok]]),
            capsize=2,
            color=f"C{k}",
            label=group,
        )
    ax.axhline(0.5, color="grey", ls=":")
    ax.set_xticks(x, signals, rotation=30, ha="right", fontsize=8)
    ax.set_ylim(0.0, 1.25)
    ax.set_ylabel("AUC (AST-correct vs wrong)")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, ncol=4, loc="upper center")
    ax.grid(alpha=0.3, axis="y")
    ax.set_title("AUC of each signal with its 95% bootstrap interval (missing: one class empty)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_all(result: Analysis, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    return [roc(result, out / "roc.png"), feature_auc(result, out / "feature_auc.png")]
