"""The network the cloud sits behind: RTT and bandwidth over time, from a real trace or a
synthetic schedule, played back at ``speed`` times real time and looped.

``Schedule`` is plain Python (no numpy), so the synthetic demo runs on the core install.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class LinkSample:
    """What the link is doing at one moment."""

    rtt_s: float
    bandwidth_bytes_per_s: float


class Schedule:
    """Piecewise-constant (RTT, bandwidth) over trace time, played at ``speed``× and looped.

    >>> s = Schedule("x", [0.0, 10.0], [0.05, 0.2], [1e6, 1e4], speed=10.0, clock=lambda: 0.0)
    >>> s.now().rtt_s
    0.05
    """

    def __init__(
        self,
        name: str,
        t: Sequence[float],
        rtt_s: Sequence[float],
        bandwidth: Sequence[float],
        *,
        speed: float = 1.0,
        rtt_measured: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not t or not (len(t) == len(rtt_s) == len(bandwidth)):
            raise ValueError(
                "a schedule needs equally long, non-empty time, RTT and bandwidth series"
            )
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.name = name
        self.t = [float(x) - float(t[0]) for x in t]
        self.rtt = [max(float(x), 0.0) for x in rtt_s]
        self.bandwidth = [max(float(x), 1.0) for x in bandwidth]
        self.speed = speed
        self.rtt_measured = rtt_measured
        self.clock = clock
        # one step past the last sample, so the last value holds for a while before looping
        step = self.t[-1] - self.t[-2] if len(self.t) > 1 else 1.0
        self.duration_s = self.t[-1] + max(step, 1e-3)
        self.started = clock()

    def trace_time(self, now: float | None = None) -> float:
        """Seconds into the trace (looped) at monotonic time ``now``."""
        elapsed = (self.clock() if now is None else now) - self.started
        return (elapsed * self.speed) % self.duration_s

    def at_trace_time(self, tt: float) -> LinkSample:
        i = max(bisect.bisect_right(self.t, tt) - 1, 0)
        return LinkSample(self.rtt[i], self.bandwidth[i])

    def now(self) -> LinkSample:
        return self.at_trace_time(self.trace_time())

    def restart(self) -> None:
        self.started = self.clock()


def synthetic_schedule(
    *, speed: float = 1.0, clock: Callable[[], float] = time.monotonic
) -> Schedule:
    """A made-up 8-minute cycle (not a measurement): good 5G, busy LTE, a stall, recovery."""
    phases = [  # (seconds, RTT s, bytes/s)
        (100, 0.040, 20_000_000),
        (80, 0.090, 2_000_000),
        (70, 0.160, 400_000),
        (60, 0.350, 8_000),
        (60, 0.220, 150_000),
        (110, 0.060, 8_000_000),
    ]
    t, rtt, bw, now = [], [], [], 0.0
    for seconds, r, b in phases:
        t.append(now)
        rtt.append(r)
        bw.append(float(b))
        now += seconds
    t.append(now)
    rtt.append(phases[0][1])
    bw.append(float(phases[0][2]))
    return Schedule(
        "a synthetic 8-minute cycle", t, rtt, bw, speed=speed, rtt_measured=False, clock=clock
    )


def trace_schedule(
    data: Path, spec: str, *, speed: float = 1.0, clock: Callable[[], float] = time.monotonic
) -> Schedule:
    """A schedule from a real trace under ``data/traces``.

    ``spec`` is ``FAMILY`` (the first trace of that family), ``FAMILY/FILE`` or a path to a file
    (its family guessed from the folder name). Needs the bench extra (numpy).
    """
    from bench.common import traces

    folders = {folder: family for family, folder in traces.FOLDERS.items()}
    path = Path(spec)
    family = spec.split("/", 1)[0]
    if path.is_file():
        family = folders.get(path.parent.name, path.parent.name)
    elif family in traces.FAMILIES:
        files = traces.trace_files(data, family)
        if "/" in spec:
            name = spec.split("/", 1)[1]
            files = [p for p in files if p.name == name or p.stem == name]
        if not files:
            raise ValueError(f"no trace {spec!r} under {data / 'traces'}; see --help for --trace")
        path = files[0]
    else:
        raise ValueError(
            f"unknown trace {spec!r}: give a family ({', '.join(traces.FAMILIES)}), FAMILY/FILE "
            "or a path to a trace file"
        )
    if family not in traces.FAMILIES:
        raise ValueError(f"cannot tell the family of {path}; put it under traces/<family>/")
    trace = traces.load_trace(path, family)
    return Schedule(
        f"{family}/{path.name}",
        trace.t.tolist(),
        trace.rtt.tolist(),
        trace.bandwidth.tolist(),
        speed=speed,
        rtt_measured=trace.rtt_measured,
        clock=clock,
    )
