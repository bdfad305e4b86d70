"""Expert profiles: how fast an expert serves and how it slows down under concurrency.

A profile is a small JSON file in ``bench/experts/profiles/`` with its ``source`` stated: one
is measured from the real llama-server on this machine (``python -m bench.experts.measure``),
the GPU-class ones are assumptions (the file says how they were derived).

The simulator's ground truth for a request on an expert with ``n`` requests running:

    prefill time = (p + ttft_s/prefill_s_per_token) · prefill_s_per_token · (1 + a·(n−1))
    decode time per token = tpot_s · (1 + β·(n−1) + β₂·(n−1)²) · (1 + stall if another prompt
                            is being prefilled) · noise

The quadratic term and the prefill stall are *not* in the gateway's latency model (linear in
n): the online model has something real to get wrong and to learn around.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from gateway.routing.placement import LatencyPrior

PROFILE_DIR = Path(__file__).resolve().parent / "profiles"


@dataclass(frozen=True, slots=True)
class ExpertProfile:
    name: str
    model: str  # the model whose quality is attached (a BFCL outcomes column, or "assumed")
    hardware: str
    flavor: str  # vllm | llamacpp
    slots: int
    context_limit: int
    ttft_s: float
    prefill_s_per_1k: float
    prefill_slowdown_per_extra: float
    tpot_s: float
    tpot_slowdown_per_extra: float
    tpot_slowdown_quadratic: float
    prefill_stall: float
    noise_sigma: float
    measured: bool
    source: str
    kv_capacity_tokens: int | None = None
    quality_offset: float = 0.0  # added to the recorded quality (for assumed experts only)

    def tpot_factor(self, n: int) -> float:
        extra = max(n - 1, 0)
        return 1.0 + self.tpot_slowdown_per_extra * extra + self.tpot_slowdown_quadratic * extra**2

    def prefill_factor(self, n: int) -> float:
        return 1.0 + self.prefill_slowdown_per_extra * max(n - 1, 0)

    def service_s(self, n: int, prompt_tokens: float, output_tokens: float) -> float:
        """Noise-free time of one request with ``n`` running (no queue), for capacity figures."""
        ttft = self.ttft_s + prompt_tokens * 1e-3 * self.prefill_s_per_1k * self.prefill_factor(n)
        return ttft + max(output_tokens - 1, 0) * self.tpot_s * self.tpot_factor(n)

    def capacity_rps(self, prompt_tokens: float, output_tokens: float) -> float:
        """Requests per second at full concurrency for a request of this size."""
        n = self.slots
        return n / self.service_s(n, prompt_tokens, output_tokens)

    def prior(self) -> LatencyPrior:
        """What an operator would give the gateway from this profile (the linear part only)."""
        return LatencyPrior(
            ttft_s=self.ttft_s,
            prefill_s_per_1k=self.prefill_s_per_1k,
            ttft_s_per_extra=0.0,
            prefill_s_per_1k_per_extra=self.prefill_s_per_1k * self.prefill_slowdown_per_extra,
            tpot_s=self.tpot_s,
            tpot_s_per_extra=self.tpot_s * self.tpot_slowdown_per_extra,
        )

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def load_profile(path: Path) -> ExpertProfile:
    doc = json.loads(path.read_text(encoding="utf-8"))
    fields = set(ExpertProfile.__dataclass_fields__)
    return ExpertProfile(**{k: v for k, v in doc.items() if k in fields})


def profile(name: str) -> ExpertProfile:
    path = PROFILE_DIR / f"{name}.json"
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in PROFILE_DIR.glob("*.json")))
        raise FileNotFoundError(f"no expert profile {name!r} in {PROFILE_DIR}; known: {known}")
    return load_profile(path)
