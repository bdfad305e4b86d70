"""``netgpt bench routing --verifier``: the learned verifier on what real edge models answered.

Per edge model (the five recorded edge-class models; the real SmolLM2 where its outcomes file
exists) with a recorded cloud (gpt-4o by default):

1. the features of every real edge answer (``gateway.routing.verifier``);
2. out-of-sample scores (repeated stratified k-fold by request) of the request-only, draft-only
   and full verifier, each **fitted on agreement with the cloud's answer** (the label a
   deployment logs), and of the full verifier fitted on BFCL's verdict (the gap);
3. their AUC against BFCL's verdict on the edge answer (bootstrap interval over requests) and
   their routing frontier (e2e accuracy against cloud share), beside all-edge, all-cloud, the
   oracle, random routing and the old simulated signal (binormal, AUC 0.8);

each with and without BFCL's relevance category. Output: ``results.json`` (one row per edge
model, variant and relevance setting), ``report.md``, PNG plots and the deployment models
(``models/<edge>.json``, fitted on every request's ``calls_cover`` label).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.common.items import load_items
from bench.common.replay import load_replays, recorded_models
from bench.common.stats import auc, auc_ci
from bench.routing.signal import draw_confidence
from bench.routing.verifier_data import (
    CLOUD_MODEL,
    EDGE_MODELS,
    Dataset,
    load_measured,
    load_recorded,
    messages_of,
)
from bench.routing.verifier_stats import (
    Frontier,
    frontier,
    mean_frontier,
    oof_scores,
    oracle_frontier,
    random_frontier,
)
from gateway.routing.verifier import (
    DRAFT_FEATURES,
    FEATURE_NAMES,
    REQUEST_FEATURES,
    SAMPLE_FEATURES,
    LogprobSummary,
    clear_caches,
    features,
    fit,
    prepare,
)

DEFAULT_SMOL_OUTCOMES = Path(__file__).resolve().parents[2] / "docs/edge-signal/outcomes.jsonl"
NO_LOGPROB = REQUEST_FEATURES + DRAFT_FEATURES
NO_SAMPLES = tuple(f for f in FEATURE_NAMES if f not in SAMPLE_FEATURES)


@dataclass(frozen=True)
class Options:
    data: Path
    out: Path
    edge_models: tuple[str, ...] = EDGE_MODELS
    cloud_model: str = CLOUD_MODEL
    smol_outcomes: Path | None = DEFAULT_SMOL_OUTCOMES
    folds: int = 5
    repeats: int = 10
    l2: float = 1.0
    seed: int = 7
    n_boot: int = 1000
    simulated_auc: float = 0.8


@dataclass
class Row:
    edge_model: str
    variant: str
    auc: float | None
    auc_lo: float | None
    auc_hi: float | None
    e2e_at_30: float | None
    share_to_match_cloud: float | None
    relevance_included: bool
    label: str = ""  # fitted on: cloud_agreement | cloud_cover | ground_truth | "" (no fit)
    n: int = 0
    e2e_at_10: float | None = None
    best_e2e: float | None = None
    best_share: float | None = None
    edge_accuracy: float = 0.0
    cloud_accuracy: float = 0.0


@dataclass
class Result:
    rows: list[Row] = field(default_factory=list)
    curves: dict[tuple[str, bool], dict[str, Frontier]] = field(default_factory=dict)
    # (edge model, relevance included) -> AUC(verifier) - AUC(verifier_no_sc), paired bootstrap
    sc_gain: dict[tuple[str, bool], tuple[float, float, float]] = field(default_factory=dict)
    timing: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0


def _clean(v: float) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else round(float(v), 4)


def _curve_row(ds: Dataset, variant: str, curve: Frontier, rel: bool, **kw: Any) -> Row:
    cloud_acc = float(ds.cloud_ok.mean())
    best, best_share = curve.best()
    return Row(
        edge_model=ds.edge_model,
        variant=variant,
        auc=kw.get("auc"),
        auc_lo=kw.get("auc_lo"),
        auc_hi=kw.get("auc_hi"),
        e2e_at_30=_clean(curve.at(0.3)),
        share_to_match_cloud=_clean(curve.share_to_reach(cloud_acc)),
        relevance_included=rel,
        label=kw.get("label", ""),
        n=len(ds.ids),
        e2e_at_10=_clean(curve.at(0.1)),
        best_e2e=_clean(best),
        best_share=_clean(best_share),
        edge_accuracy=round(float(ds.edge_ok.mean()), 4),
        cloud_accuracy=round(cloud_acc, 4),
    )


def _variants(ds: Dataset) -> list[tuple[str, tuple[str, ...], str]]:
    if ds.raw_score is None:
        full = NO_LOGPROB
    else:  # the real SmolLM2: log-probs, and the samples' agreement when the run drew samples
        full = FEATURE_NAMES if ds.has_samples else NO_SAMPLES
    out = [
        ("request_only", REQUEST_FEATURES, "cloud_agreement"),
        ("draft_only", DRAFT_FEATURES, "cloud_agreement"),
        ("verifier", full, "cloud_agreement"),
        ("verifier_cover_label", full, "cloud_cover"),
        ("verifier_ground_truth", full, "ground_truth"),
    ]
    if ds.raw_score is not None:
        out.insert(4, ("verifier_no_logprob", NO_LOGPROB, "cloud_agreement"))
    if ds.has_samples:  # self-consistency: what the sc_ features add, and what they do alone
        out += [
            ("verifier_no_sc", NO_SAMPLES, "cloud_agreement"),
            ("verifier_ground_truth_no_sc", NO_SAMPLES, "ground_truth"),
            ("sc_only", SAMPLE_FEATURES, "cloud_agreement"),
            ("draft_sc", DRAFT_FEATURES + SAMPLE_FEATURES, "cloud_agreement"),
        ]
    return out


def paired_gain(
    a: np.ndarray, b: np.ndarray, labels: np.ndarray, n_boot: int, seed: int
) -> tuple[float, float, float]:
    """AUC(a) − AUC(b) on the same requests and its 95 % percentile-bootstrap interval
    (requests resampled together, so the two scores' shared noise cancels)."""
    rng = np.random.default_rng(seed)
    n, draws = len(labels), []
    for _ in range(n_boot):
        idx = rng.integers(0, n, n)
        if labels[idx].all() or not labels[idx].any():
            continue
        draws.append(auc(a[idx], labels[idx]) - auc(b[idx], labels[idx]))
    lo, hi = np.quantile(draws, [0.025, 0.975])
    return auc(a, labels) - auc(b, labels), float(lo), float(hi)


def _scored_row(
    ds: Dataset, variant: str, scores: np.ndarray, rel: bool, opts: Options, label: str
) -> tuple[Row, Frontier]:
    ci = auc_ci(scores, ds.edge_ok, n_boot=opts.n_boot, seed=opts.seed)
    curve = frontier(scores, ds.edge_ok, ds.cloud_ok, seed=opts.seed)
    row = _curve_row(
        ds, variant, curve, rel, auc=_clean(ci.auc), auc_lo=_clean(ci.low),
        auc_hi=_clean(ci.high), label=label,
    )  # fmt: skip
    return row, curve


def evaluate(ds: Dataset, rel: bool, opts: Options, result: Result) -> None:
    """Every variant and baseline of one edge model on one request set."""
    curves: dict[str, Frontier] = {}
    kept: dict[str, np.ndarray] = {}
    for variant, names, label in _variants(ds):
        labels = {"cloud_agreement": ds.agree, "cloud_cover": ds.cover}.get(label, ds.edge_ok)
        scores = oof_scores(
            ds.x, labels, names, folds=opts.folds, repeats=opts.repeats, l2=opts.l2,
            seed=opts.seed, edge_model=ds.edge_model,
        )  # fmt: skip
        if scores is None:
            result.notes.append(f"{ds.edge_model} {variant}: fewer than 2 of a label class")
            continue
        row, curves[variant] = _scored_row(ds, variant, scores, rel, opts, label)
        result.rows.append(row)
        kept[variant] = scores
    if "verifier" in kept and "verifier_no_sc" in kept:
        result.sc_gain[(ds.edge_model, rel)] = paired_gain(
            kept["verifier"], kept["verifier_no_sc"], ds.edge_ok, opts.n_boot, opts.seed)
    if ds.raw_score is not None:
        row, curves["logprob_score"] = _scored_row(ds, "logprob_score", ds.raw_score, rel, opts, "")
        result.rows.append(row)
    rng = np.random.default_rng(opts.seed)
    sims = [draw_confidence(ds.edge_ok, opts.simulated_auc, rng) for _ in range(20)]
    sim_aucs = [auc(s, ds.edge_ok) for s in sims]
    curves["simulated"] = mean_frontier([frontier(s, ds.edge_ok, ds.cloud_ok) for s in sims])
    lo, hi = np.quantile(sim_aucs, [0.025, 0.975])
    result.rows.append(
        _curve_row(
            ds,
            f"simulated_auc_{opts.simulated_auc}",
            curves["simulated"],
            rel,
            auc=_clean(float(np.mean(sim_aucs))),
            auc_lo=_clean(lo),
            auc_hi=_clean(hi),
        )  # fmt: skip
    )
    curves["oracle"] = oracle_frontier(ds.edge_ok, ds.cloud_ok)
    curves["random"] = random_frontier(ds.edge_ok, ds.cloud_ok)
    for name in ("oracle", "random"):
        result.rows.append(_curve_row(ds, name, curves[name], rel))
    for name, share in (("all_edge", 0.0), ("all_cloud", 1.0)):
        row = _curve_row(ds, name, curves["random"], rel)
        e2e = curves["random"].at(share)
        row.e2e_at_30 = row.e2e_at_10 = row.best_e2e = _clean(e2e)
        row.best_share = share
        row.share_to_match_cloud = share if e2e >= ds.cloud_ok.mean() - 1e-12 else None
        result.rows.append(row)
    result.curves[(ds.edge_model, rel)] = curves


def _best_of(batches: int, work: Callable[[], int]) -> float:
    """µs per item of the fastest of ``batches`` runs of ``work`` (which returns its item
    count): timeit's rule, so other processes on a shared box inflate the figure least."""
    best = math.inf
    for _ in range(batches):
        start = time.perf_counter()
        count = work()
        best = min(best, (time.perf_counter() - start) / count * 1e6)
    return best


def measure_timing(ds: Dataset, opts: Options, result: Result) -> None:
    """µs per request: the fitted model's score (pure Python) and the features it needs."""
    model = fit(ds.x, ds.agree, edge_model=ds.edge_model, features=NO_LOGPROB, l2=opts.l2)
    rows = ds.x.tolist()

    def score_all() -> int:
        for x in rows:
            model.score(x)
        return len(rows)

    result.timing["score_us"] = _best_of(5, score_all)
    items = {i.prompt_id: i for i in load_items(opts.data)}
    replays = load_replays(opts.data, ds.edge_model)
    inputs = [(messages_of(items[i]), items[i].tools, replays[i].answer.tool_calls) for i in ds.ids]
    lp = LogprobSummary(-0.4, -3.0, 40)

    def features_all() -> int:
        for messages, tools, calls in inputs:
            features(prepare(messages, tools), calls, lp)
        return len(inputs)

    clear_caches()  # cold: every request's tools tokenised afresh (each BFCL request has its own)
    result.timing["features_cold_us"] = _best_of(1, features_all)
    result.timing["features_warm_us"] = _best_of(3, features_all)  # tools seen before
    result.timing["median_tools"] = float(np.median([len(t) for _, t, _ in inputs]))


def _datasets(opts: Options, progress: Callable[[str], None], notes: list[str]) -> list[Dataset]:
    items = load_items(opts.data)
    recorded = set(recorded_models(opts.data))
    out = []
    for model in opts.edge_models:
        if model not in recorded:
            notes.append(f"no recorded answers of {model} under {opts.data}: skipped")
            continue
        progress(f"features of {model}'s answers")
        out.append(load_recorded(opts.data, model, opts.cloud_model, items))
    if opts.smol_outcomes is not None and opts.smol_outcomes.exists():
        progress(f"features of the real SmolLM2 drafts ({opts.smol_outcomes})")
        out.append(load_measured(opts.data, opts.smol_outcomes, opts.cloud_model, items))
    return out


def run(opts: Options, progress: Callable[[str], None] = lambda _: None) -> Result:
    start = time.perf_counter()
    result = Result()
    datasets = _datasets(opts, progress, result.notes)
    if opts.smol_outcomes is not None and not opts.smol_outcomes.exists():
        result.notes.append(f"no SmolLM2 outcomes at {opts.smol_outcomes}: its rows are absent")
    models_dir = opts.out / "models"
    models_dir.mkdir(parents=True, exist_ok=True)
    for ds in datasets:
        for rel in (True, False):
            where = "with" if rel else "without"
            progress(f"{ds.edge_model}: cross-validating ({where} relevance)")
            evaluate(ds if rel else ds.subset(ds.categories != "relevance"), rel, opts, result)
        names = _variants(ds)[2][1]  # the full verifier's features
        model = fit(
            ds.x.tolist(), ds.cover.tolist(), edge_model=ds.edge_model, features=names,
            l2=opts.l2, label="cloud_cover",
        )  # fmt: skip
        (models_dir / f"{ds.edge_model}.json").write_text(model.to_json(), encoding="utf-8")
    recorded = [d for d in datasets if d.raw_score is None]
    if recorded:
        progress("timing the verifier")
        measure_timing(recorded[0], opts, result)
    result.elapsed_s = time.perf_counter() - start
    return result


def write_json(result: Result, opts: Options) -> Path:
    path = opts.out / "results.json"
    doc = {
        "cloud_model": opts.cloud_model,
        "folds": opts.folds,
        "repeats": opts.repeats,
        "l2": opts.l2,
        "seed": opts.seed,
        "timing_us": {k: round(v, 2) for k, v in result.timing.items()},
        "notes": result.notes,
        "sc_gain": [
            {"edge_model": m, "relevance_included": rel, "auc_gain": round(d, 4),
             "auc_gain_lo": round(lo, 4), "auc_gain_hi": round(hi, 4)}
            for (m, rel), (d, lo, hi) in result.sc_gain.items()
        ],
        "rows": [asdict(r) for r in result.rows],
    }
    path.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    return path
