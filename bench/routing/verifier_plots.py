"""PNG figures of the verifier benchmark (matplotlib, the ``bench`` extra)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from bench.routing.verifier import Result  # noqa: E402

STYLE = {
    "verifier": ("verifier (fit: agrees with cloud)", "C0", "-"),
    "verifier_cover_label": ("verifier (fit: covers cloud's calls)", "C9", "-"),
    "verifier_ground_truth": ("verifier (fit: BFCL truth)", "C0", ":"),
    "request_only": ("request-only", "C1", "-"),
    "draft_only": ("draft-only", "C2", "-"),
    "logprob_score": ("log-prob score (gateway)", "C4", "-"),
    "simulated": ("simulated signal, AUC 0.8", "C7", "--"),
    "oracle": ("oracle", "k", ":"),
    "random": ("random", "C7", ":"),
}


def frontier_plot(result: Result, edge_model: str, out: Path) -> Path:
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6), sharey=False)
    for ax, rel in zip(axes, (True, False), strict=True):
        curves = result.curves.get((edge_model, rel), {})
        for name, (label, colour, line) in STYLE.items():
            if name in curves:
                c = curves[name]
                ax.plot(c.share, c.e2e, line, color=colour, label=label, lw=1.4)
        if "random" in curves:
            r = curves["random"]
            ax.scatter([0, 1], [r.e2e[0], r.e2e[-1]], color="k", zorder=5, s=18)
            ax.axhline(r.e2e[-1], color="k", lw=0.6, alpha=0.5)
            ax.annotate("all-edge", (0, r.e2e[0]), textcoords="offset points", xytext=(4, -12))
            ax.annotate("all-cloud", (1, r.e2e[-1]), textcoords="offset points", xytext=(-48, 6))
        ax.axvline(0.3, color="C3", lw=0.6, alpha=0.6)
        ax.set_title(f"{'with' if rel else 'without'} the relevance category")
        ax.set_xlabel("cloud share (lowest scores sent first)")
        ax.set_ylabel("end-to-end accuracy (BFCL AST)")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7, loc="lower right")
    fig.suptitle(f"edge {edge_model} → cloud gpt-4o (recorded answers), out-of-sample scores")
    fig.tight_layout()
    path = out / f"verifier_frontier_{edge_model}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def auc_plot(result: Result, out: Path) -> Path:
    variants = ["logprob_score", "request_only", "draft_only", "verifier",
                "verifier_cover_label", "verifier_ground_truth"]  # fmt: skip
    models = list(dict.fromkeys(r.edge_model for r in result.rows))
    fig, axes = plt.subplots(1, 2, figsize=(12, 1.6 + 0.75 * len(models)), sharex=True)
    labelled: set[str] = set()
    for ax, rel in zip(axes, (True, False), strict=True):
        for j, variant in enumerate(variants):
            for i, model in enumerate(models):
                row = next(
                    (r for r in result.rows if r.edge_model == model and r.variant == variant
                     and r.relevance_included == rel and r.auc is not None),
                    None,
                )  # fmt: skip
                if row is None:
                    continue
                y = i + (j - len(variants) / 2) * 0.12
                label, colour, _ = STYLE[variant]
                ax.errorbar(
                    row.auc, y, xerr=[[row.auc - row.auc_lo], [row.auc_hi - row.auc]],
                    fmt="o", color=colour, ms=3, lw=1,
                    label=None if variant in labelled else label,
                    alpha=0.6 if variant == "verifier_ground_truth" else 1.0,
                )  # fmt: skip
                labelled.add(variant)
        ax.set_yticks(range(len(models)))
        ax.set_yticklabels([m.split("_", 1)[-1] for m in models], fontsize=8)
        ax.axvline(0.5, color="k", lw=0.6)
        ax.axvline(0.8, color="C3", lw=0.6, alpha=0.5)
        ax.set_xlabel("AUC vs BFCL verdict on the edge answer (95% bootstrap)")
        ax.set_title(f"{'with' if rel else 'without'} the relevance category")
        ax.grid(alpha=0.3)
    fig.legend(fontsize=8, loc="lower center", ncol=3)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    path = out / "verifier_auc.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_all(result: Result, out: Path) -> list[Path]:
    models = list(dict.fromkeys(r.edge_model for r in result.rows))
    return [auc_plot(result, out)] + [frontier_plot(result, m, out) for m in models]
