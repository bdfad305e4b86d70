"""``NetworkMonitor``: background probes per upstream → the ``NetworkState`` each request is
routed on.

Probing never happens on the request path: ``snapshot()`` only reads the estimators. One task
per target probes at ``probe_interval_s`` ± ``probe_jitter`` (jitter keeps replicas from
probing in lockstep); an optional task downloads ``bandwidth_probe_url`` for the cloud target.
Real upstream responses feed bandwidth and compute time through ``observe_transfer`` and
``observe_compute``.

    monitor = NetworkMonitor(settings, metrics)
    await monitor.start()
    state = monitor.snapshot()          # per request, no I/O
    await monitor.stop()
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from typing import Any

from gateway.config import Settings
from gateway.infra.tasks import cancel_and_wait
from gateway.metrics import GatewayMetrics
from gateway.network.estimator import Fallbacks, LinkEstimator
from gateway.network.probes import (
    Endpoint,
    HttpProber,
    ProbeError,
    SessionFactory,
    safe_url,
    tcp_connect_time,
)
from gateway.routing.state import LinkEstimate, NetworkState

log = logging.getLogger("netgpt.network")

TARGETS = ("cloud", "edge")


def _probe_url(base_url: object, probe_url: object | None) -> str:
    if probe_url is not None:
        return str(probe_url)
    return str(base_url).rstrip("/") + "/models"


class NetworkMonitor:
    """Implements ``gateway.ports.NetworkView`` from live probes.

    ``clock`` is monotonic seconds (tests may pass their own).
    """

    def __init__(
        self,
        settings: Settings,
        metrics: GatewayMetrics | None = None,
        session_factory: SessionFactory | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        n = settings.network
        r = settings.routing
        self.settings = settings
        self.metrics = metrics
        self.clock = clock
        self.endpoints = {
            "cloud": Endpoint.from_url(
                _probe_url(settings.cloud.base_url, settings.cloud.probe_url)
            ),
            "edge": Endpoint.from_url(_probe_url(settings.edge.base_url, settings.edge.probe_url)),
        }
        fallbacks = Fallbacks(r.stale_rtt_s, r.stale_bandwidth_bytes_per_s)
        # bandwidth samples are rarer than RTT probes: allow two active-probe periods
        bw_age = (
            max(n.stale_after_s, 2 * n.bandwidth_probe_interval_s)
            if n.bandwidth_probe_url
            else n.stale_after_s
        )
        self.estimators = {
            name: LinkEstimator(
                fast_alpha=n.ewma_fast_alpha,
                slow_alpha=n.ewma_slow_alpha,
                stale_after_s=n.stale_after_s,
                fallbacks=fallbacks,
                bandwidth_stale_after_s=bw_age,
            )
            for name in TARGETS
        }
        self._probers = {name: HttpProber(n.probe_timeout_s, session_factory) for name in TARGETS}
        self._tasks: list[asyncio.Task[None]] = []
        self._random = random.Random()
        self._last_error: dict[str, str | None] = dict.fromkeys(TARGETS)
        # the RTT probe and the bandwidth download of one target never overlap: the download
        # would fill the bottleneck queue and the RTT probe would measure that queue
        self._locks = {name: asyncio.Lock() for name in TARGETS}

    # ---- NetworkView ---------------------------------------------------------------------------

    def snapshot(self) -> NetworkState:
        now = self.clock()
        return NetworkState(
            cloud=self.estimators["cloud"].estimate(now), edge=self.estimators["edge"].estimate(now)
        )

    def observe_transfer(self, target: str, nbytes: int, transfer_s: float) -> None:
        """Passive bandwidth sample: body bytes over time from first to last byte. Responses
        below ``min_transfer_bytes`` are ignored: they fit in the first packets and would
        measure latency, not bandwidth."""
        estimator = self.estimators.get(target)
        if (
            estimator is None
            or nbytes < self.settings.network.min_transfer_bytes
            or transfer_s <= 0
        ):
            return
        estimator.observe_bandwidth(nbytes / transfer_s, self.clock())
        self._export(target, estimator.estimate(self.clock()))

    def observe_compute(self, target: str, seconds: float) -> None:
        estimator = self.estimators.get(target)
        if estimator is not None:
            estimator.observe_compute(seconds, self.clock())

    # ---- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        if self._tasks:
            return
        for name in TARGETS:
            self._tasks.append(asyncio.create_task(self._probe_loop(name), name=f"probe-{name}"))
        if self.settings.network.bandwidth_probe_url is not None:
            self._tasks.append(asyncio.create_task(self._bandwidth_loop(), name="probe-bandwidth"))

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        await cancel_and_wait(tasks)  # a probe's lost cancel must not hang shutdown
        for prober in self._probers.values():
            await prober.close()

    # ---- probing -------------------------------------------------------------------------------

    def _interval(self, base: float) -> float:
        jitter = self.settings.network.probe_jitter
        return base * (1.0 + jitter * self._random.uniform(-1.0, 1.0))

    async def _probe_loop(self, target: str) -> None:
        while True:
            await self.probe_once(target)
            await asyncio.sleep(self._interval(self.settings.network.probe_interval_s))

    async def _bandwidth_loop(self) -> None:
        while True:
            await self.probe_bandwidth_once()
            await asyncio.sleep(self._interval(self.settings.network.bandwidth_probe_interval_s))

    async def probe_once(self, target: str) -> float | None:
        """One probe round: TCP connect + HTTP round trips. Returns the RTT sample (None: the
        target did not answer)."""
        endpoint = self.endpoints[target]
        prober = self._probers[target]
        timeout = self.settings.network.probe_timeout_s
        samples: list[float] = []
        async with self._locks[target]:
            try:
                samples.append(await tcp_connect_time(endpoint.host, endpoint.port, timeout))
            except ProbeError as exc:
                self._failed(target, exc)
            try:
                samples.append(await prober.best_round_trip(endpoint.url))
            except ProbeError as exc:
                self._failed(target, exc)
        estimator = self.estimators[target]
        if samples:
            estimator.observe_rtt(max(samples), self.clock())
            self._last_error[target] = None
        else:
            estimator.observe_failure()
        self._export(target, estimator.estimate(self.clock()))
        return max(samples) if samples else None

    async def probe_bandwidth_once(self) -> float | None:
        """Download the bandwidth probe URL once; returns bytes/s (None: failed or too small)."""
        url = self.settings.network.bandwidth_probe_url
        if url is None:
            return None
        try:
            async with self._locks["cloud"]:
                nbytes, transfer_s = await self._probers["cloud"].transfer(str(url))
        except ProbeError as exc:
            self._failed("cloud", exc)
            return None
        if nbytes < self.settings.network.min_transfer_bytes or transfer_s <= 0:
            log.warning(
                "bandwidth probe %s returned %d bytes, too few to measure; serve a body of "
                "about a second's worth of transfer",
                safe_url(str(url)),
                nbytes,
            )
            return None
        self.observe_transfer("cloud", nbytes, transfer_s)
        return nbytes / transfer_s

    def _failed(self, target: str, exc: ProbeError) -> None:
        if self.metrics is not None:
            self.metrics.probe_failures.labels(target, exc.kind).inc()
        if self._last_error[target] != str(exc):
            log.warning("network probe to %s: %s", target, exc)
        self._last_error[target] = str(exc)

    def _export(self, target: str, estimate: LinkEstimate) -> None:
        if self.metrics is None:
            return
        self.metrics.network_rtt.labels(target).set(estimate.rtt_s)
        self.metrics.network_bandwidth.labels(target).set(estimate.bandwidth_bytes_per_s)
        self.metrics.network_stale.labels(target).set(1.0 if estimate.stale else 0.0)

    # ---- reporting -----------------------------------------------------------------------------

    def state(self) -> dict[str, dict[str, Any]]:
        """Per-target estimates with probe details, for ``GET /v1/router/state``."""
        now = self.clock()
        out: dict[str, dict[str, Any]] = {}
        for name in TARGETS:
            estimator = self.estimators[name]
            estimate = estimator.estimate(now)
            self._export(name, estimate)  # staleness moves with time, not only with probes
            out[name] = {
                **estimate.as_dict(),
                **estimator.details(now),
                "probe_url": safe_url(self.endpoints[name].url),
                "last_error": self._last_error[name],
            }
        return out
