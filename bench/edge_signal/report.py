"""The markdown report of a measurement: what was run, accuracy, AUCs, errors."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.edge_signal.analysis import ALL, Analysis
from bench.edge_signal.consistency import report_lines
from bench.edge_signal.features import FEATURES

FEATURE_HELP = {
    "score": "the gateway's raw score: 0 for a schema-invalid draft, else 0.7·exp(mean) + 0.3·exp(min)",
    "lp_mean": "mean log-prob over every generated token (the gateway's input)",
    "lp_min": "least likely generated token (the gateway's input)",
    "lp_sum": "sum of log-probs (the whole draft's log-likelihood)",
    "lp_first": "the first generated token",
    "lp_call_mean": "mean over the tokens of the call's JSON object",
    "lp_call_min": "least likely token of the call's JSON object",
    "lp_name_mean": "mean over the function name's tokens",
    "lp_args_mean": "mean over the arguments object's tokens",
    "lp_args_min": "least likely token of the arguments",
}


def _f(x: float, fmt: str = ".3f") -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, fmt)


def _accuracy_table(result: Analysis) -> list[str]:
    out = [
        "| category | n | AST-correct | 95% CI | schema-valid | calls/request | "
        "latency p50 / p95 (s) | completion tokens | tokens/s (median) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for group in [*result.categories, ALL]:
        a = result.accuracy[group]
        out.append(
            f"| {'**all**' if group == ALL else group} | {a['n']:.0f} | {a['correct']:.0f} "
            f"({a['accuracy']:.1%}) | {a['low']:.1%}–{a['high']:.1%} | {a['valid']:.1%} | "
            f"{a['calls']:.2f} | {_f(a['latency_p50'], '.2f')} / {_f(a['latency_p95'], '.2f')} | "
            f"{_f(a['tokens'], '.1f')} | {_f(a['tokens_per_s'], '.1f')} |"
        )
    return out


def _auc_table(
    result: Analysis, table: dict[str, dict[str, Any]], signals: Sequence[str]
) -> list[str]:
    groups = [ALL, *result.categories]
    out = [
        "| signal | " + " | ".join(groups) + " |",
        "|---|" + "---|" * len(groups),
    ]
    for s in signals:
        out.append(f"| `{s}` | " + " | ".join(table[s][g].text() for g in groups) + " |")
    pos = " | ".join(f"{table[signals[0]][g].n_pos}/{table[signals[0]][g].n}" for g in groups)
    out.append(f"| *right/all drafts* | {pos} |")
    return out


def write_report(
    result: Analysis,
    out: Path,
    plots: Sequence[Path],
    meta: dict[str, Any],
    name: str = "report.md",
) -> Path:
    names = {p.name for p in plots}
    a = result.accuracy[ALL]
    cal = result.calibrated_eval
    score = result.auc_all["score"][ALL]
    lines = [
        "# The real edge's signal on BFCL v1 (measured)",
        "",
        f"Generated {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')} from "
        f"`{meta.get('outcomes', 'outcomes.jsonl')}` ({a['n']:.0f} requests).",
        "",
        "## What ran",
        "",
        f"- Edge: **real** `llama-server` ({meta.get('server', 'llama.cpp')}) serving "
        f"{meta.get('model', 'SmolLM2-135M-Instruct Q4_1')} on this machine's CPU, "
        f"`--parallel {meta.get('parallel', 2)}`; requests sent {meta.get('concurrency', 2)} at a "
        "time through the gateway's own `EdgeClient` (flavour `llamacpp`, call pre-fill "
        f"`{meta.get('prefill', '<tool_call>')!r}`, draft cap {meta.get('max_tokens', 256)} "
        "tokens): `tool_choice` required, one call, stop at `</tool_call>`, temperature 0.",
        f"- Requests: BFCL v1 AST categories, {meta.get('sample_text', 'all')}. The body is the "
        "user's question and the request's tools as BFCL's OpenAI handler converts them; the "
        "client sends no `tool_choice`.",
        "- Judged by: the gateway's schema guard (validity) and BFCL's AST rule "
        "(`bench/common/ast_check.py`, reviewed against BFCL's checker) for correctness; a "
        "relevance request is right only with no call, which the forced call never gives.",
        "- Signal: the gateway's score from the draft's **real** token log-probs, and each "
        "log-prob feature below. AUC = P(a right draft scores above a wrong one), ties half; "
        f"95% percentile bootstrap over requests ({result.n_boot} draws, seed {result.seed}).",
        f"- Wall time of the measurement: {meta.get('wall_text', 'see the command output')}.",
        "",
        "## Accuracy per category",
        "",
        *_accuracy_table(result),
        "",
        "Latency is the edge call as the client saw it (two requests in flight on two shared "
        "cores, other jobs running), tokens/s = completion tokens / latency (prompt time "
        "included). `single_call` pools simple and multiple_function, the categories where "
        "one call is the right answer.",
        "",
        "## AUC of the score and of each log-prob feature",
        "",
        f"Over every request (invalid drafts score 0): the gateway's score has AUC "
        f"**{score.text()}**. With an isotonic calibration fitted on one half of the requests "
        f"(stratified by category, seed {result.seed}) and judged on the other half only: "
        f"**{cal[ALL].text()}** (n = {cal[ALL].n}).",
        "",
        *_auc_table(result, result.auc_all, ["score", *FEATURES]),
        "",
        "Among schema-valid drafts only (what the log-probs must separate once the guard has "
        "done its part):",
        "",
        *_auc_table(result, result.auc_valid, ["score", *FEATURES]),
        "",
        "Calibrated score on the held-out half, per category: "
        + ", ".join(f"{g} {ci.text()}" for g, ci in cal.items())
        + ".",
        "",
        "Signals: "
        + "; ".join(f"`{k}` — {v}" for k, v in FEATURE_HELP.items())
        + ". A missing value (no such tokens, or the edge failed) ranks lowest.",
        "",
    ]
    for fig, caption in (("roc.png", "ROC curves"), ("feature_auc.png", "AUC per signal")):
        if fig in names:
            lines += [f"![{caption}]({fig})", ""]
    lines += report_lines(result.samples)
    lines += [
        "## Why drafts were wrong",
        "",
        "| BFCL error type | requests |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in result.errors.most_common()],
        "",
    ]
    path = out / name
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
