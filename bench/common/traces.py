"""Real network traces → (time, bandwidth, RTT) series, with the RTT model stated per family.

Four families, each read from its own folder under ``traces/``:

- ``norway_3g``: Norway HSDPA 3G commutes (Riiser et al., MMSys 2013), ``time_s Mbit/s``.
- ``fcc_broadband``: FCC Measuring Broadband America 2016 web-get runs, ``time_s Mbit/s``.
- ``mahimahi_cellular``: Verizon/T-Mobile/AT&T cellular downlinks (Winstein et al., NSDI 2013),
  one line per 1500-byte delivery opportunity; throughput over 1 s windows.
- ``ucc_5g``: 5G/LTE in Cork (Raca et al., MMSys 2020), CSV with measured ping about every 14 s.

Only ``ucc_5g`` measures RTT. For the others RTT is modelled as a base propagation delay for the
access technology plus the time a bottleneck queue of ``QUEUE_BYTES`` drains at the current
bandwidth (a slow link is also a long-delay link), which is stated in every report.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

FAMILIES = ("fcc_broadband", "ucc_5g", "mahimahi_cellular", "norway_3g")
FOLDERS = {
    "norway_3g": "norway_hsdpa_3g",
    "fcc_broadband": "fcc_broadband",
    "mahimahi_cellular": "mahimahi_cellular",
    "ucc_5g": "ucc_5g",
}
# base RTT (s) to a cloud region per access technology, before queueing: typical published
# figures (3G HSDPA ~100-150 ms, LTE ~50-70 ms, wired broadband ~20-30 ms)
BASE_RTT_S = {"norway_3g": 0.12, "fcc_broadband": 0.025, "lte": 0.06, "umts_evdo": 0.12}
QUEUE_BYTES = 15_000.0  # ten MTU-sized packets queued at the bottleneck
MIN_BANDWIDTH_BPS = 6_250.0  # 50 kbit/s: a stalled second still moves a few packets
MBIT = 125_000.0  # bytes per second in one Mbit/s


@dataclass(frozen=True, slots=True)
class Trace:
    """One trace: samples of downlink bandwidth (bytes/s) and RTT (s) over time (s)."""

    name: str
    family: str
    t: NDArray[np.float64]
    bandwidth: NDArray[np.float64]
    rtt: NDArray[np.float64]
    rtt_measured: bool

    @property
    def duration_s(self) -> float:
        return float(self.t[-1] - self.t[0]) if len(self.t) > 1 else 1.0

    def at(self, times: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """(bandwidth, RTT) in force at each time: the last sample at or before it."""
        idx = np.clip(np.searchsorted(self.t, times, side="right") - 1, 0, len(self.t) - 1)
        return self.bandwidth[idx], self.rtt[idx]


def modelled_rtt(family: str, bandwidth: NDArray[np.float64]) -> NDArray[np.float64]:
    return BASE_RTT_S[family] + QUEUE_BYTES / bandwidth


def _from_columns(
    name: str, family: str, t: list[float], mbps: list[float], rtt_family: str
) -> Trace:
    tt = np.asarray(t, dtype=float)
    order = np.argsort(tt, kind="stable")
    tt = tt[order] - tt[order][0]
    bw = np.maximum(np.asarray(mbps, dtype=float)[order] * MBIT, MIN_BANDWIDTH_BPS)
    return Trace(name, family, tt, bw, modelled_rtt(rtt_family, bw), rtt_measured=False)


def load_two_column(path: Path, family: str) -> Trace:
    t, mbps = [], []
    for line in path.read_text().split("\n"):
        parts = line.split()
        if len(parts) >= 2:
            t.append(float(parts[0]))
            mbps.append(float(parts[1]))
    return _from_columns(path.name, family, t, mbps, family)


def load_mahimahi(path: Path, window_s: float = 1.0) -> Trace:
    """Throughput per window = delivery opportunities × 12,000 bit / window."""
    ms = np.loadtxt(path, dtype=float, ndmin=1)
    edges = np.arange(0.0, ms.max() / 1000.0 + window_s, window_s)
    counts, _ = np.histogram(ms / 1000.0, bins=edges)
    mbps = counts * 12_000.0 / window_s / 1e6
    rtt_family = "lte" if "LTE" in path.name else "umts_evdo"
    return _from_columns(path.stem, "mahimahi_cellular", list(edges[:-1]), list(mbps), rtt_family)


def load_ucc(path: Path) -> Trace:
    """Measured ping (held until the next measurement); rows before the first ping use it too."""
    t, mbps, ping = [], [], []
    with path.open(newline="") as fh:
        for row in csv.DictReader(fh):
            t.append(float(row["t_s"]))
            mbps.append(float(row["dl_mbps"] or 0.0))
            value = row.get("ping_avg_ms") or ""
            ping.append(float(value) / 1000.0 if value not in ("", "-") else np.nan)
    trace = _from_columns(path.stem, "ucc_5g", t, mbps, "lte")
    rtt = np.asarray(ping, dtype=float)[np.argsort(np.asarray(t), kind="stable")]
    if np.all(np.isnan(rtt)):
        return trace
    # forward-fill the measured ping, back-fill the head with the first measurement
    idx = np.where(~np.isnan(rtt), np.arange(len(rtt)), 0)
    np.maximum.accumulate(idx, out=idx)
    filled = rtt[idx]
    filled[np.isnan(filled)] = rtt[~np.isnan(rtt)][0]
    return Trace(trace.name, "ucc_5g", trace.t, trace.bandwidth, filled, rtt_measured=True)


def trace_files(data: Path, family: str) -> list[Path]:
    folder = data / "traces" / FOLDERS[family]
    if family == "mahimahi_cellular":
        return sorted(folder.glob("*.down"))
    if family == "ucc_5g":
        return sorted(folder.glob("*.csv"))
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def load_trace(path: Path, family: str) -> Trace:
    if family == "mahimahi_cellular":
        return load_mahimahi(path)
    if family == "ucc_5g":
        return load_ucc(path)
    return load_two_column(path, family)


def pick(paths: list[Path], n: int | None) -> list[Path]:
    """``n`` traces spread evenly over the sorted list (all when ``n`` is None)."""
    if n is None or n >= len(paths):
        return paths
    idx = np.linspace(0, len(paths) - 1, n).round().astype(int)
    return [paths[i] for i in sorted(set(idx))]


def ewma_estimates(
    trace: Trace, times: NDArray[np.float64], probe_interval_s: float, alpha: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """What the gateway's probes would believe at each time: an EWMA of probe samples.

    Probes sample the trace every ``probe_interval_s``; the router decides on the estimate of
    the last probe, not on the true value, so it lags a changing link the way the live one does.
    """
    probe_t = np.arange(0.0, trace.duration_s + probe_interval_s, probe_interval_s)
    bw, rtt = trace.at(probe_t)
    est_bw, est_rtt = np.empty_like(bw), np.empty_like(rtt)
    b, r = bw[0], rtt[0]
    for i in range(len(probe_t)):
        b = alpha * bw[i] + (1 - alpha) * b
        r = alpha * rtt[i] + (1 - alpha) * r
        est_bw[i], est_rtt[i] = b, r
    idx = np.clip(np.searchsorted(probe_t, times, side="right") - 1, 0, len(probe_t) - 1)
    return est_bw[idx], est_rtt[idx]
