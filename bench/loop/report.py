"""``DIR/rounds.json`` and ``DIR/report.md`` (with plots) from the loop's state."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PROVENANCE = (
    "Requests: BFCL v1 AST categories (gorilla, Apache-2.0), split by a hash of the id into "
    "traffic and a held-out set no training step reads. Edge: the real SmolLM2-135M-Instruct "
    "on llama.cpp's llama-server on this CPU, through the real gateway (`netgpt serve`) and "
    "real Redis. Cloud: **replayed**, not live — what gpt-4o-2024-08-06-FC actually answered to "
    "each BFCL request (HuanzhiMao/BFCL-Result 2024-08-11, `outcomes/results/`, decoded as its "
    "parser would; rebuilt from the recorded outcome only where no output is recorded), with "
    "its recorded latency and token counts; there is no internet here. Accuracy is the full "
    "BFCL v1 AST checker (bench/common/ast_check.py; it agrees with the recorded verdicts on "
    "1,240/1,240 requests per model)."
)


def _f(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _pct(value: Any) -> str:
    return "–" if value is None else f"{100 * float(value):.1f}%"


def _calibration(cal: dict[str, Any]) -> str:
    if cal.get("fitted") or cal.get("n"):
        return f"fitted on {cal.get('n')} records ({cal.get('positives')} agreeing)"
    reason = str(cal.get("reason") or cal.get("error") or "none")
    return "not fitted (raw scores): " + reason.split(":")[0][:80]


def _verifier_cells(r: dict[str, Any]) -> list[str]:
    v = r.get("verifier") or {}
    fitted = "yes" if v.get("refit") else "no: " + str(v.get("reason") or "–").split(":")[0][:60]
    ins = v.get("in_sample") or {}
    held = r.get("score_auc_held_out") or {}
    held_text = "–" if held.get("auc") is None else (
        f"{held['auc']:.3f} [{held['auc_lo']:.3f}, {held['auc_hi']:.3f}] "
        f"({held['n']}, {held['positives']} right)")
    return [str(r["round"]), fitted, _f(v.get("n")), _f(v.get("positives")),
            _f(ins.get("auc")), str(r.get("score_source") or "–"), held_text]


def write_rounds(out: Path, rounds: list[dict[str, Any]]) -> Path:
    path = out / "rounds.json"
    path.write_text(json.dumps(rounds, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


def plots(out: Path, rounds: list[dict[str, Any]]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = [r["round"] for r in rounds]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    ax = axes[0]
    for key, label in (("edge_accuracy", "edge alone"), ("e2e_accuracy", "end to end"),
                       ("offload_rate", "offload rate"), ("schema_valid_rate", "schema-valid"),
                       ("unprompted_call_rate", "calls opened unprompted")):
        ax.plot(xs, [r.get(key) if r.get(key) is not None else float("nan") for r in rounds],
                marker="o", label=label)
    ax.set_xlabel("round (0 = untrained)")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xticks(xs)
    ax.set_title("held-out figures per round")
    ax.legend(fontsize=7)
    ax = axes[1]
    cats = sorted({c for r in rounds for c in (r.get("edge_accuracy_by_category") or {})})
    width = 0.8 / max(len(rounds), 1)
    for i, r in enumerate(rounds):
        by = r.get("edge_accuracy_by_category") or {}
        ax.bar([j + i * width for j in range(len(cats))], [by.get(c) or 0.0 for c in cats],
               width, label=f"round {r['round']}")
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(cats))])
    ax.set_xticklabels([c.replace("_function", "").replace("_", "\n") for c in cats], fontsize=7)
    ax.set_ylim(0, 1)
    ax.set_title("edge-alone accuracy by BFCL category")
    ax.legend(fontsize=7)
    fig.tight_layout()
    name = "rounds.png"
    fig.savefig(out / name, dpi=110)
    plt.close(fig)
    return [name]


def write_report(out: Path, rounds: list[dict[str, Any]], meta: dict[str, Any]) -> Path:
    lines = ["# NetGPT learning loop", "", PROVENANCE, ""]
    lines += [f"Command: `{meta.get('command', '')}`", "",
              f"Wall time {_f(meta.get('wall_s'), 0)} s; loop process peak RSS "
              f"{_f(meta.get('loop_peak_rss_mib'), 0)} MiB (training peaks per step below). "
              f"Held-out sample: {meta.get('held_out')} requests; traffic per round: "
              f"{meta.get('traffic')}.", ""]
    try:
        for name in plots(out, rounds):
            lines += [f"![rounds]({name})", ""]
    except ImportError:
        lines += ["(matplotlib is not installed: no plots; pip install 'netgpt-gateway[bench]')", ""]
    head = ["round", "edge acc", "schema-valid", "unprompted calls", "offload", "e2e acc",
            "cloud spend $", "p50 s", "p95 s", "KL to SFT", "marker precision", "asked help"]
    lines += ["## Held-out figures", "", "| " + " | ".join(head) + " |",
              "|" + "---|" * len(head)]
    for r in rounds:
        lines.append("| " + " | ".join([
            str(r["round"]), _pct(r.get("edge_accuracy")), _pct(r.get("schema_valid_rate")),
            _pct(r.get("unprompted_call_rate")), _pct(r.get("offload_rate")),
            _pct(r.get("e2e_accuracy")), _f(r.get("cloud_spend_usd"), 4),
            _f(r.get("latency_p50_s"), 2), _f(r.get("latency_p95_s"), 2),
            _f(r.get("kl_to_sft"), 4), _pct(r.get("offload_marker_precision")),
            _pct(r.get("edge_offload_request_rate")),
        ]) + " |")
    cats = sorted({c for r in rounds for c in (r.get("edge_accuracy_by_category") or {})})
    lines += ["", "## Edge-alone accuracy per BFCL category", "",
              "| round | " + " | ".join(cats) + " | with prefill | unprompted |",
              "|" + "---|" * (len(cats) + 3)]
    for r in rounds:
        by = r.get("edge_accuracy_by_category") or {}
        lines.append(f"| {r['round']} | " + " | ".join(_pct(by.get(c)) for c in cats)
                     + f" | {_pct(r.get('edge_accuracy_prefilled'))} | "
                     f"{_pct(r.get('edge_accuracy_unprompted'))} |")
    lines += ["", "## Training (on the previous round's exported traffic)", "",
              "| round | step | seconds | peak RSS MiB | figures |", "|---|---|---|---|---|"]
    for r in rounds:
        for kind, t in (r.get("training") or {}).items():
            extra = ", ".join(f"{k} {_f(v, 4)}" for k, v in t.items()
                              if k not in ("seconds", "peak_rss_mib"))
            lines.append(f"| {r['round']} | {kind} | {_f(t.get('seconds'), 0)} | "
                         f"{_f(t.get('peak_rss_mib'), 0)} | {extra} |")
    lines += ["", "## Served model, traffic and calibration", "",
              "| round | model GGUF | adapter GGUF | prefill | traffic (cloud-routed) | "
              "exported | calibration |", "|---|---|---|---|---|---|---|"]
    for r in rounds:
        t = r.get("traffic") or {}
        cal = r.get("calibration") or {}
        lines.append(
            f"| {r['round']} | {Path(r['model_gguf']).name} | "
            f"{Path(r['adapter_gguf']).name if r.get('adapter_gguf') else '–'} | "
            f"{json.dumps(r.get('gateway_call_prefill'))} | {t.get('requests')} "
            f"({t.get('cloud_routed')}) | {r.get('exported_train_examples')} | "
            f"{_calibration(cal)} |"
        )
    lines += ["", "## Learned verifier (refitted after each round's traffic)", "",
              "| round | fitted | records | agreeing | in-sample AUC | held-out score | "
              "held-out AUC [95%] (n, right) |", "|---|---|---|---|---|---|---|"]
    lines += ["| " + " | ".join(_verifier_cells(r)) + " |" for r in rounds]
    lines += ["", "## Definitions", "",
              "- *edge acc*: the gateway's own edge draft (`model=edge`) judged by the full BFCL "
              "AST checker, all held-out requests (relevance: right = no call).",
              "- *schema-valid*: of the tool-call requests where the edge did not ask for help, "
              "the share whose draft is a call passing the gateway's schema guard.",
              "- *unprompted calls*: of the tool-call requests, the share where the model opened "
              "a call without the prefill (no pre-filled `<tool_call>`).",
              "- *offload*: share of `model=auto` answers the router sent to the cloud; *e2e acc*: "
              "those answers judged by the BFCL checker; spend: the gateway's "
              "`netgpt_cloud_cost_usd_total` over the held-out pass (list prices).",
              "- *marker precision*: of the requests where the edge asked for help, the share its "
              "forced (prefilled) answer gets wrong; *asked help*: share of requests where it asked.",
              "- *KL to SFT*: last step's reverse KL of the shipped variant to its SFT start "
              "(k3 estimator, per token).",
              "- *verifier*: `POST /v1/router/edge-model` (refit) after the round's traffic "
              "refits it on the round's logged pairs (label: the draft made the cloud's calls); "
              "*records*/*agreeing* are its answer's n and positives; *in-sample AUC*: the fit "
              "on those same pairs; *held-out AUC*: the measuring gateway's `x-netgpt-score` "
              "(the verifier's where it is in force for the round's model, else the calibrated "
              "score: *held-out score*) against the held-out edge draft's BFCL correctness, "
              "with a bootstrap interval.",
              "- latency: wall time of the `model=auto` request (cold prompt cache), replayed cloud "
              "latency included.", ""]
    notes = meta.get("notes") or []
    if notes:
        lines += ["## Targets", "", *[f"- {n}" for n in notes], ""]
    path = out / "report.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def target_notes(rounds: list[dict[str, Any]]) -> list[str]:
    """Each target of the issue, met or not, with the margin."""
    notes: list[str] = []
    for prev, cur in zip(rounds, rounds[1:], strict=False):
        d_off = (cur.get("offload_rate") or 0) - (prev.get("offload_rate") or 0)
        d_e2e = (cur.get("e2e_accuracy") or 0) - (prev.get("e2e_accuracy") or 0)
        d_sv = (cur.get("schema_valid_rate") or 0) - (prev.get("schema_valid_rate") or 0)
        ok = d_off < 0 and d_e2e >= 0
        notes.append(
            f"round {prev['round']} -> {cur['round']}: offload {d_off:+.3f}, e2e accuracy "
            f"{d_e2e:+.3f} ({'met' if ok else 'NOT met'}: offload must fall at equal or better "
            f"e2e); schema-valid {d_sv:+.3f} ({'met' if d_sv >= 0 else 'NOT met'})"
        )
    if len(rounds) > 1:
        first, last = rounds[0], rounds[-1]
        gain = (last.get("edge_accuracy") or 0) - (first.get("edge_accuracy") or 0)
        notes.append(f"held-out edge accuracy, last round vs untrained: {gain:+.3f}")
    return notes
