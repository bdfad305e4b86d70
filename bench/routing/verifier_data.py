"""The verifier benchmark's data: per edge model, one row per BFCL v1 request with the
verifier's features of the edge's real answer, the BFCL verdicts of edge and cloud, and the
labels a deployment has: the edge's calls agree with the cloud's (``calls_agree``, today's
label) or cover them (``calls_cover``).

Recorded edge models answer all 1,240 requests (``bench.common.replay``); the real SmolLM2 run
of ``netgpt bench edge-signal`` (``docs/edge-signal/outcomes.jsonl``) adds the requests it
measured, with its token log-probs.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bench.common.items import Item, load_items
from bench.common.replay import Replayed, load_replays
from gateway.routing.calibration import calls_agree
from gateway.routing.verifier import (
    LogprobSummary,
    SampleSummary,
    calls_cover,
    features,
    prepare,
)

EDGE_MODELS = (
    "Salesforce_xLAM-1b-fc-r",
    "Salesforce_xLAM-7b-fc-r",
    "NousResearch_Hermes-2-Pro-Llama-3-8B",
    "meta-llama_Meta-Llama-3-8B-Instruct",
    "THUDM_glm-4-9b-chat",
)
CLOUD_MODEL = "gpt-4o-2024-08-06-FC"
SMOL = "SmolLM2-135M-Instruct"
WIDE = Path("outcomes") / "bfcl_2024-08-11_correctness_wide.csv"


@dataclass
class Dataset:
    """Aligned arrays over the requests an edge model answered."""

    edge_model: str
    ids: list[str]
    categories: NDArray[np.str_]
    x: NDArray[np.float64]  # features, FEATURE_NAMES order
    edge_ok: NDArray[np.bool_]  # BFCL verdict on the edge's answer (recorded / measured)
    cloud_ok: NDArray[np.bool_]  # BFCL verdict on the cloud's answer (recorded)
    agree: NDArray[np.bool_]  # edge calls == cloud calls: the label a deployment logs today
    cover: NDArray[np.bool_]  # the edge made the cloud's calls (verifier.calls_cover)
    raw_score: NDArray[np.float64] | None = None  # the gateway's log-prob score (SmolLM2 only)
    cloud_latency_s: NDArray[np.float64] | None = None
    has_samples: bool = False  # the sc_ features were measured (edge-signal --samples K)

    def subset(self, mask: NDArray[np.bool_]) -> Dataset:
        return Dataset(
            edge_model=self.edge_model,
            ids=[i for i, m in zip(self.ids, mask, strict=True) if m],
            categories=self.categories[mask],
            x=self.x[mask],
            edge_ok=self.edge_ok[mask],
            cloud_ok=self.cloud_ok[mask],
            agree=self.agree[mask],
            cover=self.cover[mask],
            raw_score=None if self.raw_score is None else self.raw_score[mask],
            cloud_latency_s=None if self.cloud_latency_s is None else self.cloud_latency_s[mask],
            has_samples=self.has_samples,
        )


def recorded_truth(data: Path, models: list[str]) -> dict[str, dict[str, bool]]:
    out: dict[str, dict[str, bool]] = {m: {} for m in models}
    with (data / WIDE).open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            for m in models:
                if row.get(m) in ("0", "1"):
                    out[m][row["prompt_id"]] = row[m] == "1"
    return out


def messages_of(item: Item) -> list[dict[str, Any]]:
    return [{"role": "user", "content": item.question}]


def _assemble(
    edge_model: str,
    rows: list[tuple[Item, tuple[float, ...], bool, bool, tuple[bool, bool], float | None]],
    cloud: dict[str, Replayed],
) -> Dataset:
    raw = [r[5] for r in rows]
    return Dataset(
        edge_model=edge_model,
        ids=[r[0].prompt_id for r in rows],
        categories=np.array([r[0].category for r in rows]),
        x=np.array([r[1] for r in rows], dtype=float),
        edge_ok=np.array([r[2] for r in rows], dtype=bool),
        cloud_ok=np.array([r[3] for r in rows], dtype=bool),
        agree=np.array([r[4][0] for r in rows], dtype=bool),
        cover=np.array([r[4][1] for r in rows], dtype=bool),
        raw_score=None if any(v is None for v in raw) else np.array(raw, dtype=float),
        cloud_latency_s=np.array(
            [cloud[r[0].prompt_id].latency_s or 0.0 for r in rows], dtype=float
        ),
    )


def load_recorded(
    data: Path, edge_model: str, cloud_model: str = CLOUD_MODEL, items: list[Item] | None = None
) -> Dataset:
    """Features and labels of a recorded edge model's answers to the 1,240 requests."""
    items = items if items is not None else load_items(data)
    edge, cloud = load_replays(data, edge_model), load_replays(data, cloud_model)
    truth = recorded_truth(data, [edge_model, cloud_model])
    rows = []
    for item in items:
        pid = item.prompt_id
        if pid not in edge or pid not in cloud or pid not in truth[edge_model]:
            continue
        calls = edge[pid].answer.tool_calls
        x = features(prepare(messages_of(item), item.tools), calls)
        cloud_calls = cloud[pid].answer.tool_calls
        agree = calls_agree(calls, cloud_calls), calls_cover(calls, cloud_calls)
        rows.append((item, x, truth[edge_model][pid], truth[cloud_model][pid], agree, None))
    return _assemble(edge_model, rows, cloud)


def load_measured(
    data: Path, outcomes: Path, cloud_model: str = CLOUD_MODEL, items: list[Item] | None = None
) -> Dataset:
    """The real SmolLM2's measured drafts (``netgpt bench edge-signal``'s outcomes.jsonl), with
    the agreement of their sampled drafts where the run drew them (``--samples K``)."""
    by_id = {i.prompt_id: i for i in (items if items is not None else load_items(data))}
    cloud = load_replays(data, cloud_model)
    truth = recorded_truth(data, [cloud_model])[cloud_model]
    rows = []
    sampled = False
    with outcomes.open(encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            rec = json.loads(line)
            item = by_id.get(rec.get("id"))
            if item is None or item.prompt_id not in cloud:
                continue
            calls = [
                {"type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
                for c in rec.get("calls") or ()
            ]
            lp = None
            if rec.get("lp_mean") is not None and rec.get("lp_min") is not None:
                lp = LogprobSummary(rec["lp_mean"], rec["lp_min"], int(rec.get("n_tokens") or 0))
            summary = SampleSummary.from_dict(rec.get("samples"))
            sampled = sampled or "sc_k" in rec
            x = features(prepare(messages_of(item), item.tools), calls, lp, summary)
            cloud_calls = cloud[item.prompt_id].answer.tool_calls
            agree = calls_agree(calls, cloud_calls), calls_cover(calls, cloud_calls)
            raw = float(rec.get("raw_score") or 0.0)
            rows.append((item, x, bool(rec["correct"]), truth[item.prompt_id], agree, raw))
    ds = _assemble(SMOL, rows, cloud)
    ds.has_samples = sampled
    return ds
