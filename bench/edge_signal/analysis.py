"""The measured signal: accuracy per category, AUC (with bootstrap CI) of the score and of each
log-prob feature, overall and per BFCL category; calibration fitted on one half, judged on the
other.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.common.stats import (
    AucCI,
    BoolArray,
    FloatArray,
    auc_ci,
    calibrated_scores,
    proportion_ci,
    split_mask,
)
from bench.edge_signal.consistency import SampleStats, sample_stats
from bench.edge_signal.features import FEATURES

ALL = "all"
SINGLE = "single_call"  # simple + multiple_function: one call is the right answer
SINGLE_CATEGORIES = ("simple", "multiple_function")
SIGNALS = ("score", *FEATURES)  # "score": the gateway's raw score (0 for an invalid draft)


class OutcomesError(Exception):
    """The outcomes file is missing, empty or not of this benchmark; the message says what to do."""


def load_rows(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        raise OutcomesError(
            f"{path} does not exist; run `netgpt bench edge-signal --out DIR` first"
        )
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            continue  # a line cut short by a killed run
        if not isinstance(row, dict) or not {"id", "category", "correct"} <= row.keys():
            raise OutcomesError(f"{path}:{n} is not an edge-signal record")
        rows.append(row)
    if not rows:
        raise OutcomesError(f"{path} holds no records")
    # a resumed run could in principle repeat an id: keep the first
    seen: set[str] = set()
    return [r for r in rows if not (r["id"] in seen or seen.add(r["id"]))]  # type: ignore[func-returns-value]


@dataclass
class Columns:
    ids: list[str]
    category: list[str]
    correct: BoolArray
    valid: BoolArray
    n_calls: FloatArray
    latency: FloatArray
    completion_tokens: FloatArray
    signals: dict[str, FloatArray]  # missing values as -inf (ranked lowest)

    @classmethod
    def of(cls, rows: list[dict[str, Any]]) -> Columns:
        def col(key: str, default: float = float("nan")) -> FloatArray:
            return np.array([float(r[key]) if r.get(key) is not None else default for r in rows])

        signals = {"score": col("raw_score", 0.0)}
        for name in FEATURES:
            signals[name] = col(name, -np.inf)
        return cls(
            ids=[r["id"] for r in rows],
            category=[r["category"] for r in rows],
            correct=np.array([bool(r["correct"]) for r in rows]),
            valid=np.array([bool(r.get("schema_valid")) for r in rows]),
            n_calls=col("n_calls", 0.0),
            latency=col("latency_s"),
            completion_tokens=col("completion_tokens"),
            signals=signals,
        )

    def mask(self, category: str) -> BoolArray:
        if category == ALL:
            return np.ones(len(self.ids), dtype=bool)
        if category == SINGLE:
            return np.array([c in SINGLE_CATEGORIES for c in self.category])
        return np.array([c == category for c in self.category])


@dataclass
class Analysis:
    cols: Columns
    categories: list[str]
    seed: int
    n_boot: int
    accuracy: dict[str, dict[str, float]] = field(default_factory=dict)
    auc_all: dict[str, dict[str, AucCI]] = field(default_factory=dict)  # signal → category → CI
    auc_valid: dict[str, dict[str, AucCI]] = field(default_factory=dict)
    calibrated_eval: dict[str, AucCI] = field(default_factory=dict)  # category → CI
    eval_mask: BoolArray | None = None
    calibrated: FloatArray | None = None
    errors: Counter[str] = field(default_factory=Counter)
    samples: SampleStats | None = None  # rows measured with --samples K


def _accuracy(c: Columns, m: BoolArray) -> dict[str, float]:
    n = int(m.sum())
    share, low, high = proportion_ci(int(c.correct[m].sum()), n)
    lat = c.latency[m]
    toks = c.completion_tokens[m]
    tps = toks / lat
    return {
        "n": n,
        "correct": float(c.correct[m].sum()),
        "accuracy": share,
        "low": low,
        "high": high,
        "valid": float(c.valid[m].mean()) if n else float("nan"),
        "calls": float(c.n_calls[m].mean()) if n else float("nan"),
        "latency_p50": float(np.nanpercentile(lat, 50)) if n else float("nan"),
        "latency_p95": float(np.nanpercentile(lat, 95)) if n else float("nan"),
        "tokens": float(np.nanmean(toks)) if np.isfinite(toks).any() else float("nan"),
        "tokens_per_s": float(np.nanmedian(tps)) if np.isfinite(tps).any() else float("nan"),
    }


def analyse(rows: list[dict[str, Any]], seed: int = 7, n_boot: int = 2000) -> Analysis:
    cols = Columns.of(rows)
    categories = sorted(set(cols.category))
    if set(SINGLE_CATEGORIES) <= set(categories):
        categories.append(SINGLE)
    result = Analysis(cols, categories, seed, n_boot)
    result.errors = Counter(str(r.get("ast_error") or "correct") for r in rows)
    result.samples = sample_stats(rows, seed, n_boot)
    for category in [ALL, *categories]:
        m = cols.mask(category)
        result.accuracy[category] = _accuracy(cols, m)
        for signal, values in cols.signals.items():
            result.auc_all.setdefault(signal, {})[category] = auc_ci(
                values[m], cols.correct[m], n_boot, seed=seed
            )
            mv = m & cols.valid
            result.auc_valid.setdefault(signal, {})[category] = auc_ci(
                values[mv], cols.correct[mv], n_boot, seed=seed
            )
    # calibration fitted on one half of the requests, the score judged on the other half
    fit_on = split_mask(cols.category, seed)
    result.eval_mask = ~fit_on
    result.calibrated = calibrated_scores(cols.signals["score"], cols.valid, cols.correct, fit_on)
    for category in [ALL, *categories]:
        m = cols.mask(category) & result.eval_mask
        result.calibrated_eval[category] = auc_ci(
            result.calibrated[m], cols.correct[m], n_boot, seed=seed
        )
    return result
