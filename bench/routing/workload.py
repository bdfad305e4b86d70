"""Per-request arrays built once from the recorded data, split into calibration and evaluation.

Recorded: the requests and tools (BFCL v1), each model's correctness and error type, the cloud
model's latency and token counts. Derived here: schema validity (the gateway's guard on drafts
rebuilt from the error type), the simulated edge latency, the request and response sizes.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from bench.common.bfcl import Request
from bench.common.costs import (
    EDGE_FORMAT_TOKENS,
    EDGE_PARAMS,
    edge_latency_s,
    response_bytes,
)
from bench.common.drafts import check_request
from gateway.routing.schema_guard import ValidatorCache


@dataclass(frozen=True)
class Workload:
    """Column arrays over requests (one index per request)."""

    prompt_id: list[str]
    category: NDArray[np.str_]
    edge_correct: NDArray[np.bool_]
    cloud_correct: NDArray[np.bool_]
    valid: NDArray[np.bool_]
    n_calls: NDArray[np.int64]
    request_bytes: NDArray[np.float64]
    input_tokens: NDArray[np.float64]
    output_tokens: NDArray[np.float64]
    cloud_compute_s: NDArray[np.float64]
    edge_latency_s: NDArray[np.float64]
    response_bytes: NDArray[np.float64]
    guard_counts: Counter[str] = field(default_factory=Counter)
    # the gateway's raw score of each real edge draft (bench.routing.real_edge); None: simulated
    edge_raw: NDArray[np.float64] | None = None

    def __len__(self) -> int:
        return len(self.prompt_id)

    def take(self, idx: NDArray[np.int64]) -> Workload:
        def sel(a: NDArray[np.generic]) -> NDArray[np.generic]:
            return a[idx]

        return Workload(
            [self.prompt_id[i] for i in idx],
            sel(self.category),  # type: ignore[arg-type]
            sel(self.edge_correct),  # type: ignore[arg-type]
            sel(self.cloud_correct),  # type: ignore[arg-type]
            sel(self.valid),  # type: ignore[arg-type]
            sel(self.n_calls),  # type: ignore[arg-type]
            sel(self.request_bytes),  # type: ignore[arg-type]
            sel(self.input_tokens),  # type: ignore[arg-type]
            sel(self.output_tokens),  # type: ignore[arg-type]
            sel(self.cloud_compute_s),  # type: ignore[arg-type]
            sel(self.edge_latency_s),  # type: ignore[arg-type]
            sel(self.response_bytes),  # type: ignore[arg-type]
            self.guard_counts,
            None if self.edge_raw is None else sel(self.edge_raw),  # type: ignore[arg-type]
        )


def build_workload(requests: list[Request], edge_model: str) -> Workload:
    cache = ValidatorCache()
    valid, n_calls, counts = [], [], Counter[str]()
    for r in requests:
        verdict = check_request(r, cache)
        valid.append(verdict.valid)
        n_calls.append(len(r.ground_truth or {}))
        if not r.edge.correct:
            counts["edge_wrong"] += 1
            counts["edge_wrong_caught" if not verdict.valid else "edge_wrong_passed"] += 1
            if verdict.catchable:
                counts["edge_wrong_catchable"] += 1
        if verdict.reference_quirk:
            counts["reference_quirk"] += 1
    tin = np.array([float(r.cloud.input_tokens or 0) for r in requests])
    tout = np.array([float(r.cloud.output_tokens or 0) for r in requests])
    params = EDGE_PARAMS.get(edge_model, 8.0e9)
    return Workload(
        prompt_id=[r.prompt_id for r in requests],
        category=np.array([r.category for r in requests]),
        edge_correct=np.array([r.edge.correct for r in requests]),
        cloud_correct=np.array([r.cloud.correct for r in requests]),
        valid=np.array(valid),
        n_calls=np.array(n_calls, dtype=np.int64),
        request_bytes=np.array([float(r.request_bytes) for r in requests]),
        input_tokens=tin,
        output_tokens=tout,
        cloud_compute_s=np.array([float(r.cloud.latency_s or 0.0) for r in requests]),
        edge_latency_s=edge_latency_s(params, tin, tout + EDGE_FORMAT_TOKENS),
        response_bytes=response_bytes(tout),
        guard_counts=counts,
    )


def split(
    workload: Workload, seed: int, calibration_share: float = 0.5
) -> tuple[Workload, Workload]:
    """(calibration, evaluation), stratified by BFCL category."""
    rng = np.random.default_rng(seed)
    cal: list[int] = []
    for category in sorted(set(workload.category.tolist())):
        idx = np.flatnonzero(workload.category == category)
        rng.shuffle(idx)
        cal.extend(idx[: int(round(len(idx) * calibration_share))].tolist())
    mask = np.zeros(len(workload), dtype=bool)
    mask[cal] = True
    return workload.take(np.flatnonzero(mask)), workload.take(np.flatnonzero(~mask))
