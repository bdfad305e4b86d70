"""Per-expert latency model, learned online from the gateway's own observations.

    ttft(c, p) = θ0 + θ1·p' + θ2·(c−1) + θ3·(c−1)·p'      p' = prompt tokens / 1000
    tpot(c)    = φ0 + φ1·(c−1)
    total      = ttft + (output tokens − 1)·tpot

``c`` is the number of requests running on the expert together with this one (itself
included), capped at the expert's slots when they are known; waiting for a free slot is
modelled apart (``gateway.routing.placement.estimator.queue_wait_s``), so feed the model
observations of requests that did not queue. Both parts are fitted by recursive least squares with a
forgetting factor, starting from a prior (an expert profile or defaults), so the model is
usable before its first observation and follows a server whose speed drifts.

``mape`` is the mean absolute percentage error of the total-latency prediction made *before*
each update (an honest, out-of-sample running figure); ``recent_mape`` weighs the last ~50
observations. Pure state: no clock, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

MIN_TTFT_S = 1e-3
MIN_TPOT_S = 1e-4


class LatencyPrediction(NamedTuple):
    ttft_s: float
    tpot_s: float
    total_s: float


@dataclass(frozen=True, slots=True)
class LatencyPrior:
    """Starting coefficients (an expert profile) and how firmly to hold them.

    ``strength`` is how many observations the prior is worth: larger moves slower at first.
    """

    ttft_s: float = 0.05  # θ0: time to first token of a short prompt, alone
    prefill_s_per_1k: float = 0.1  # θ1: extra TTFT per 1000 prompt tokens, alone
    ttft_s_per_extra: float = 0.01  # θ2: extra TTFT per other running request
    prefill_s_per_1k_per_extra: float = 0.01  # θ3: prefill slowdown per other running request
    tpot_s: float = 0.02  # φ0: per-token decode time, alone
    tpot_s_per_extra: float = 0.002  # φ1: decode slowdown per other running request
    strength: float = 4.0


class _RLS:
    """Recursive least squares on a small feature vector (pure Python lists: 2-4 features)."""

    __slots__ = ("theta", "p", "forgetting")

    def __init__(self, theta: list[float], variance: list[float], forgetting: float) -> None:
        self.theta = list(theta)
        n = len(theta)
        self.p = [[variance[i] if i == j else 0.0 for j in range(n)] for i in range(n)]
        self.forgetting = forgetting

    def predict(self, x: list[float]) -> float:
        return sum(t * v for t, v in zip(self.theta, x, strict=True))

    def update(self, x: list[float], y: float) -> None:
        n = len(x)
        p, lam = self.p, self.forgetting
        px = [sum(p[i][j] * x[j] for j in range(n)) for i in range(n)]
        denom = lam + sum(x[i] * px[i] for i in range(n))
        gain = [v / denom for v in px]
        err = y - self.predict(x)
        self.theta = [t + g * err for t, g in zip(self.theta, gain, strict=True)]
        self.p = [[(p[i][j] - gain[i] * px[j]) / lam for j in range(n)] for i in range(n)]


class LatencyModel:
    """TTFT and per-token decode time of one expert as functions of concurrency and prompt size.

    >>> m = LatencyModel()
    >>> m.observe(concurrency=2, prompt_tokens=500, output_tokens=40, ttft_s=0.2, total_s=1.1)
    >>> m.predict(concurrency=2, prompt_tokens=500, output_tokens=40).total_s > 0
    True
    """

    __slots__ = ("_ttft", "_tpot", "n", "mape", "recent_mape", "prior", "theta")

    def __init__(self, prior: LatencyPrior | None = None, forgetting: float = 0.998) -> None:
        self.prior = prior or LatencyPrior()
        pr = self.prior
        # RLS from P0 is ridge regression pulling θ towards the prior with weight P0⁻¹: with
        # P0 = 1/(strength·E[x²]) the prior weighs as much as ``strength`` observations that
        # agree with it (E[x²] for prompts of ~1000 tokens and ~3 other requests running).
        s = max(pr.strength, 1e-6)
        ttft_theta = [
            pr.ttft_s,
            pr.prefill_s_per_1k,
            pr.ttft_s_per_extra,
            pr.prefill_s_per_1k_per_extra,
        ]
        tpot_theta = [pr.tpot_s, pr.tpot_s_per_extra]
        self._ttft = _RLS(ttft_theta, [1.0 / (s * m) for m in (1.0, 1.0, 9.0, 9.0)], forgetting)
        self._tpot = _RLS(tpot_theta, [1.0 / (s * m) for m in (1.0, 9.0)], forgetting)
        self.theta = (*self._ttft.theta, *self._tpot.theta)  # read by the hot path in impact.py
        self.n = 0
        self.mape = 0.0
        self.recent_mape = 0.0

    def ttft(self, concurrency: float, prompt_tokens: float) -> float:
        th = self._ttft.theta
        pk = prompt_tokens * 1e-3
        extra = concurrency - 1.0 if concurrency > 1.0 else 0.0
        v = th[0] + th[1] * pk + extra * (th[2] + th[3] * pk)
        return v if v > MIN_TTFT_S else MIN_TTFT_S

    def tpot(self, concurrency: float) -> float:
        ph = self._tpot.theta
        extra = concurrency - 1.0 if concurrency > 1.0 else 0.0
        v = ph[0] + ph[1] * extra
        return v if v > MIN_TPOT_S else MIN_TPOT_S

    def predict(
        self, concurrency: float, prompt_tokens: float, output_tokens: float
    ) -> LatencyPrediction:
        ttft = self.ttft(concurrency, prompt_tokens)
        tpot = self.tpot(concurrency)
        return LatencyPrediction(ttft, tpot, ttft + max(output_tokens - 1.0, 0.0) * tpot)

    def observe(
        self,
        concurrency: float,
        prompt_tokens: float,
        output_tokens: float,
        ttft_s: float,
        total_s: float,
    ) -> None:
        """Learn from one finished request; the error of the prediction made first is scored."""
        if not (ttft_s > 0.0 and total_s >= ttft_s):
            return  # a broken measurement teaches nothing
        predicted = self.predict(concurrency, prompt_tokens, output_tokens).total_s
        ape = abs(predicted - total_s) / total_s
        self.n += 1
        self.mape += (ape - self.mape) / self.n
        alpha = max(1.0 / self.n, 0.02)
        self.recent_mape += alpha * (ape - self.recent_mape)
        extra = max(concurrency - 1.0, 0.0)
        pk = prompt_tokens * 1e-3
        self._ttft.update([1.0, pk, extra, extra * pk], ttft_s)
        if output_tokens > 1:
            self._tpot.update([1.0, extra], (total_s - ttft_s) / (output_tokens - 1.0))
        self.theta = (*self._ttft.theta, *self._tpot.theta)

    @property
    def coefficients(self) -> dict[str, float]:
        """The current fit, named like ``LatencyPrior`` (for /v1/router/state and reports)."""
        t, p = self._ttft.theta, self._tpot.theta
        return {
            "ttft_s": t[0],
            "prefill_s_per_1k": t[1],
            "ttft_s_per_extra": t[2],
            "prefill_s_per_1k_per_extra": t[3],
            "tpot_s": p[0],
            "tpot_s_per_extra": p[1],
        }
