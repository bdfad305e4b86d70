"""The learned verifier in each round: what its refit reported, and how well it ranks.

- **refit**: each round's traffic ends with ``POST /v1/router/edge-model`` (refit), which refits
  the calibration *and* the verifier on the round's logged records; its answer's ``verifier``
  part (fitted or not, n records, positives, or the reason it was not fitted) is read back.
- **in-sample AUC**: the fitted verifier (``NETGPT_VERIFIER_FILE`` of the round) scores the very
  records it was fitted on, against its own training label (the draft made the cloud's calls).
- **held-out AUC**: the score the measuring gateway gave each held-out request
  (``x-netgpt-score`` of the ``model=auto`` pass: the verifier's where it is in force for the
  round's model, else the calibrated score) against the held-out edge draft's correctness
  under the BFCL checker. Requests never seen by any fit: out of sample.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.common.stats import auc_ci


def _auc(scores: Sequence[float], labels: Sequence[bool]) -> dict[str, Any]:
    ci = auc_ci(np.asarray(scores, dtype=float), np.asarray(labels, dtype=bool), n_boot=1000)
    nan = math.isnan(ci.auc)
    return {"auc": None if nan else round(ci.auc, 4), "auc_lo": None if nan else round(ci.low, 4),
            "auc_hi": None if nan else round(ci.high, 4), "n": ci.n, "positives": ci.n_pos}


def refit_summary(answer: dict[str, Any] | None) -> dict[str, Any]:
    """The ``verifier`` part of the refit answer, reduced to what the report shows."""
    if not answer:
        return {"refit": False, "reason": "the gateway's answer held no verifier part"}
    keep = ("refit", "reason", "n", "positives", "edge_model", "fit_s", "enabled")
    return {k: answer[k] for k in keep if k in answer}


def in_sample_auc(records: Iterable[dict[str, Any]], verifier_file: Path,
                  edge_model: str) -> dict[str, Any] | None:
    """AUC of the fitted verifier on the records it was fitted from (None: no fit on disk)."""
    from gateway.policy.verifier_store import example
    from gateway.routing.verifier import VerifierModel

    if not verifier_file.exists():
        return None
    model = VerifierModel.from_json(verifier_file.read_bytes())
    if model.edge_model != edge_model:
        return None  # an older round's fit: says nothing of this model
    scores, labels = [], []
    for record in records:
        pair = example(record, edge_model)
        if pair is not None:
            scores.append(model.score(pair[0]))
            labels.append(pair[1])
    return _auc(scores, labels)


def stream_records(redis_url: str, stream: str) -> list[dict[str, Any]]:
    """Every record of a round's dataset stream, read as the gateway's refit reads it."""
    from redis.asyncio import Redis

    from gateway.dataset.readers import redis_records

    async def read() -> list[dict[str, Any]]:
        client = Redis.from_url(redis_url)
        try:
            return [r async for r in redis_records(client, stream)]
        finally:
            await client.aclose()

    return asyncio.run(read())


def held_out_auc(rows: Sequence[Any]) -> dict[str, Any]:
    """AUC of the routed score against held-out edge correctness (rows with a score)."""
    pairs = [(float(r.score), bool(r.edge_correct)) for r in rows if r.score is not None]
    return _auc([s for s, _ in pairs], [c for _, c in pairs])
