"""Real edge outcomes (``netgpt bench edge-signal``) in place of the recorded edge-class model
and its simulated confidence.

Each record of the measurement carries, for one BFCL request, what the real edge (llama-server
with SmolLM2) did through the gateway's edge client: AST-correct, the schema guard's verdict,
the number of calls, the gateway's raw score from the draft's real token log-probabilities and
the measured latency. ``apply_outcomes`` keeps the requests that were measured and replaces the
edge's columns with those; the cloud's columns stay the recorded ones.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from bench.common.bfcl import DataError
from bench.routing.workload import Workload

REQUIRED = ("id", "category", "correct", "schema_valid", "n_calls", "raw_score", "latency_s")


def load_outcomes(path: Path) -> dict[str, dict[str, Any]]:
    """prompt id → record; raises ``DataError`` with what to run when the file is unusable."""
    if not path.is_file():
        raise DataError(
            f"{path} does not exist; record real edge outcomes first with "
            "`netgpt bench edge-signal --out DIR` and pass DIR/outcomes.jsonl"
        )
    out: dict[str, dict[str, Any]] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            continue  # a last line cut short by a killed measurement
        missing = [k for k in REQUIRED if k not in row]
        if missing:
            raise DataError(f"{path}:{n} is not an edge-signal record (lacks {', '.join(missing)})")
        out.setdefault(str(row["id"]), row)
    if not out:
        raise DataError(f"{path} holds no records")
    return out


def apply_outcomes(workload: Workload, outcomes: dict[str, dict[str, Any]]) -> Workload:
    """The measured requests of ``workload`` with the real edge's columns."""
    idx = np.array([i for i, pid in enumerate(workload.prompt_id) if pid in outcomes], dtype=int)
    if len(idx) == 0:
        raise DataError("none of the recorded edge outcomes matches a BFCL v1 request id")
    w = workload.take(idx)
    rows = [outcomes[pid] for pid in w.prompt_id]
    valid = np.array([bool(r["schema_valid"]) for r in rows])
    correct = np.array([bool(r["correct"]) for r in rows])
    counts: Counter[str] = Counter()
    counts["edge_wrong"] = int((~correct).sum())
    counts["edge_wrong_caught"] = int((~correct & ~valid).sum())
    counts["edge_wrong_passed"] = int((~correct & valid).sum())
    counts["edge_failed"] = sum(1 for r in rows if r.get("edge_error"))
    return replace(
        w,
        edge_correct=correct,
        valid=valid,
        n_calls=np.array([int(r["n_calls"]) for r in rows], dtype=np.int64),
        edge_latency_s=np.array([float(r["latency_s"]) for r in rows]),
        edge_raw=np.array([float(r["raw_score"]) for r in rows]),
        guard_counts=counts,
    )
