"""Network state the router decides on: one estimate per upstream target."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class LinkEstimate:
    """RTT and bandwidth towards one upstream, as last estimated.

    ``stale`` means the estimate is older than the configured age (or there has been none):
    the threshold then uses conservative defaults instead.
    """

    rtt_s: float
    bandwidth_bytes_per_s: float
    stale: bool = False
    age_s: float | None = None
    failure_rate: float = 0.0
    rtt_slow_s: float | None = None
    bandwidth_slow_bytes_per_s: float | None = None
    compute_s: float | None = None  # measured upstream compute time (latency net of transfer)

    def as_dict(self) -> dict[str, float | bool | None]:
        return {
            "rtt_s": self.rtt_s,
            "bandwidth_bytes_per_s": self.bandwidth_bytes_per_s,
            "stale": self.stale,
            "age_s": self.age_s,
            "failure_rate": self.failure_rate,
            "rtt_slow_s": self.rtt_slow_s,
            "bandwidth_slow_bytes_per_s": self.bandwidth_slow_bytes_per_s,
            "compute_s": self.compute_s,
        }


@dataclass(frozen=True, slots=True)
class NetworkState:
    """A snapshot of the network, taken once per request."""

    cloud: LinkEstimate
    edge: LinkEstimate = field(default_factory=lambda: LinkEstimate(0.001, 1e9))

    def as_dict(self) -> dict[str, dict[str, float | bool | None]]:
        return {"cloud": self.cloud.as_dict(), "edge": self.edge.as_dict()}
