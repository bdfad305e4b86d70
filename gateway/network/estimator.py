"""Per-target estimates built from probe and transfer samples: fast and slow EWMAs, failure
rate, staleness. No I/O and no clock: callers pass ``now`` (monotonic seconds).
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.routing.state import LinkEstimate


class Ewma:
    """Exponentially weighted moving average; the first sample sets the value."""

    __slots__ = ("alpha", "value")

    def __init__(self, alpha: float) -> None:
        self.alpha = alpha
        self.value: float | None = None

    def update(self, sample: float) -> float:
        self.value = (
            sample if self.value is None else self.value + self.alpha * (sample - self.value)
        )
        return self.value


class _Signal:
    """One measured quantity: a fast and a slow EWMA and when it was last sampled."""

    __slots__ = ("fast", "slow", "at", "samples")

    def __init__(self, fast_alpha: float, slow_alpha: float) -> None:
        self.fast = Ewma(fast_alpha)
        self.slow = Ewma(slow_alpha)
        self.at: float | None = None
        self.samples = 0

    def update(self, sample: float, now: float) -> None:
        self.fast.update(sample)
        self.slow.update(sample)
        self.at = now
        self.samples += 1

    def fresh(self, now: float, max_age_s: float) -> bool:
        return self.at is not None and now - self.at <= max_age_s


@dataclass(frozen=True, slots=True)
class Fallbacks:
    """Values a snapshot uses where there is no fresh measurement (conservative)."""

    rtt_s: float
    bandwidth_bytes_per_s: float


class LinkEstimator:
    """RTT, bandwidth, compute time and probe failure rate towards one upstream.

    The fast EWMA drives the threshold (it follows a change within a few probes); the slow one
    is reported beside it. The estimate is stale when no RTT sample is younger than
    ``stale_after_s``. Bandwidth comes from rarer samples (real responses, an optional active
    probe), so without a fresh one the snapshot carries the conservative fallback bandwidth
    while the link itself stays fresh.
    """

    def __init__(
        self,
        *,
        fast_alpha: float,
        slow_alpha: float,
        stale_after_s: float,
        fallbacks: Fallbacks,
        bandwidth_stale_after_s: float | None = None,
    ) -> None:
        self.rtt = _Signal(fast_alpha, slow_alpha)
        self.bandwidth = _Signal(fast_alpha, slow_alpha)
        self.compute = _Signal(fast_alpha, slow_alpha)
        self.failure = Ewma(slow_alpha)
        self.failures = 0
        self.stale_after_s = stale_after_s
        self.bandwidth_stale_after_s = bandwidth_stale_after_s or stale_after_s
        self.fallbacks = fallbacks

    def observe_rtt(self, seconds: float, now: float) -> None:
        if seconds >= 0:
            self.rtt.update(seconds, now)
            self.failure.update(0.0)

    def observe_failure(self) -> None:
        self.failures += 1
        self.failure.update(1.0)

    def observe_bandwidth(self, bytes_per_s: float, now: float) -> None:
        if bytes_per_s > 0:
            self.bandwidth.update(bytes_per_s, now)

    def observe_compute(self, seconds: float, now: float) -> None:
        if seconds >= 0:
            self.compute.update(seconds, now)

    def estimate(self, now: float) -> LinkEstimate:
        rtt_fresh = self.rtt.fresh(now, self.stale_after_s)
        bw_fresh = self.bandwidth.fresh(now, self.bandwidth_stale_after_s)
        rtt = self.rtt.fast.value if rtt_fresh else None
        bandwidth = self.bandwidth.fast.value if bw_fresh else None
        return LinkEstimate(
            rtt_s=self.fallbacks.rtt_s if rtt is None else rtt,
            bandwidth_bytes_per_s=(
                self.fallbacks.bandwidth_bytes_per_s if bandwidth is None else bandwidth
            ),
            stale=not rtt_fresh,
            age_s=None if self.rtt.at is None else max(now - self.rtt.at, 0.0),
            failure_rate=self.failure.value or 0.0,
            rtt_slow_s=self.rtt.slow.value if rtt_fresh else None,
            bandwidth_slow_bytes_per_s=self.bandwidth.slow.value if bw_fresh else None,
            compute_s=self.compute.fast.value,
        )

    def details(self, now: float) -> dict[str, float | int | bool | None]:
        """Counters and ages for ``/v1/router/state`` beside the snapshot."""
        return {
            "rtt_samples": self.rtt.samples,
            "bandwidth_samples": self.bandwidth.samples,
            "bandwidth_measured": self.bandwidth.fresh(now, self.bandwidth_stale_after_s),
            "bandwidth_age_s": None
            if self.bandwidth.at is None
            else max(now - self.bandwidth.at, 0.0),
            "probe_failures": self.failures,
        }
