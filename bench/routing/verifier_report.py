"""The verifier benchmark's markdown report and its check of the issue's targets."""

from __future__ import annotations

from pathlib import Path

from bench.routing.verifier import Result, Row

SHOWN = (
    "logprob_score", "request_only", "draft_only", "verifier", "verifier_no_logprob",
    "verifier_cover_label", "verifier_ground_truth", "verifier_no_sc",
    "verifier_ground_truth_no_sc", "sc_only", "draft_sc", "simulated_auc_0.8", "oracle", "random",
    "all_edge", "all_cloud",
)  # fmt: skip


def _f(v: float | None, digits: int = 3) -> str:
    return "—" if v is None else f"{v:.{digits}f}"


def _row(r: Row) -> str:
    auc = "—" if r.auc is None else f"{r.auc:.3f} [{_f(r.auc_lo)}, {_f(r.auc_hi)}]"
    best = f"{_f(r.best_e2e)} at {_f(r.best_share, 2)}"
    return (
        f"| {r.variant} | {r.label or '—'} | {auc} | {_f(r.e2e_at_30)} | "
        f"{_f(r.share_to_match_cloud, 2)} | {_f(r.e2e_at_10)} | {best} |"
    )


def _find(result: Result, model: str, variant: str, rel: bool = True) -> Row | None:
    return next(
        (r for r in result.rows
         if r.edge_model == model and r.variant == variant and r.relevance_included == rel),
        None,
    )  # fmt: skip


def targets(result: Result) -> list[str]:
    """The issue's targets, each met or missed with the measured figure."""
    out = []

    def line(ok: bool | None, text: str) -> None:
        out.append(f"- {'n/a' if ok is None else 'met' if ok else 'MISSED'}: {text}")

    x1 = _find(result, "Salesforce_xLAM-1b-fc-r", "verifier")
    if x1 is not None and x1.auc is not None:
        line(x1.auc >= 0.80, f"xLAM-1b verifier AUC {x1.auc:.3f} (target ≥ 0.80)")
        line((x1.e2e_at_30 or 0) >= 0.888, f"xLAM-1b e2e at 30% cloud {_f(x1.e2e_at_30)} (≥ 0.888)")
        share = x1.share_to_match_cloud
        line(
            share is not None and share <= 0.45,
            f"xLAM-1b matches all-cloud at {_f(share, 2)} (≤ 0.45)",
        )
    x7 = _find(result, "Salesforce_xLAM-7b-fc-r", "verifier")
    if x7 is not None:
        line((x7.e2e_at_10 or 0) >= 0.925, f"xLAM-7b e2e at 10% cloud {_f(x7.e2e_at_10)} (≥ 0.925)")
    smol = _find(result, "SmolLM2-135M-Instruct", "verifier")
    if smol is not None and smol.auc is not None:
        line(
            smol.auc >= 0.84,
            f"SmolLM2 verifier AUC {smol.auc:.3f} on {smol.n} drafts"
            + ("" if smol.n == 1240 else ", not all 1,240")
            + " (≥ 0.84)",
        )
    if "score_us" in result.timing:
        # the target is the whole evaluation on the request path: features and score
        t = result.timing["score_us"]
        total = t + result.timing.get("features_warm_us", 0.0)
        line(
            total <= 20,
            f"verifier evaluation {total:.1f} µs per request with the tools seen before: "
            f"features {total - t:.1f} + score {t:.1f}, pure Python, whole passes on this box "
            "(≤ 20 µs; per-step figures: python -m bench.routing.verifier_timing)",
        )
    return out


def write_report(result: Result, out: Path, plots: list[Path]) -> Path:
    lines = ["# Learned verifier on real edge answers", ""]
    lines += ["## Targets", "", *targets(result), ""]
    t = result.timing
    if t:
        lines += [
            f"Timing (pure Python, per request): score {t.get('score_us', 0):.1f} µs; features "
            f"{t.get('features_cold_us', 0):.0f} µs cold, {t.get('features_warm_us', 0):.0f} µs "
            f"with the tools seen before (median {t.get('median_tools', 0):.0f} tools).",
            "",
        ]
    for note in result.notes:
        lines.append(f"Note: {note}")
    models = list(dict.fromkeys(r.edge_model for r in result.rows))
    header = [
        "| variant | fitted on | AUC [95%] | e2e at 30% cloud | share to match cloud | "
        "e2e at 10% | best e2e at share |",
        "|---|---|---|---|---|---|---|",
    ]
    for model in models:
        for rel in (True, False):
            rows = [r for v in SHOWN if (r := _find(result, model, v, rel)) is not None]
            if not rows:
                continue
            first = rows[0]
            lines += [
                f"## {model} ({'with' if rel else 'without'} relevance, n = {first.n}; "
                f"edge {first.edge_accuracy:.3f}, cloud {first.cloud_accuracy:.3f})",
                "",
                *header,
                *(_row(r) for r in rows),
                "",
            ]
            gain = result.sc_gain.get((model, rel))
            if gain is not None:
                lines += [
                    f"Self-consistency: AUC(verifier) − AUC(verifier_no_sc) = {gain[0]:+.3f} "
                    f"[{gain[1]:+.3f}, {gain[2]:+.3f}] (paired bootstrap over requests).",
                    "",
                ]
    lines += [f"![{p.stem}]({p.name})" for p in plots]
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
