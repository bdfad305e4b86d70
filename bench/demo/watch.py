"""Polls the running gateway the way an operator would: ``GET /v1/router/state`` (its network
estimates, τ for a reference request, μ) and ``GET /metrics`` (cloud spend, edge draft time),
next to the link's true values from the schedule, for the view. With a real edge
(``--edge real``) it also reads llama-server's own ``/metrics`` (its decode rate)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from dataclasses import dataclass

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from bench.common.network import Schedule


@dataclass(frozen=True, slots=True)
class GatewaySample:
    at: float
    trace_t: float
    true_rtt_s: float
    true_bandwidth: float
    rtt_s: float | None  # the gateway's estimates
    bandwidth: float | None
    stale: bool
    compute_s: float | None
    tau: float | None
    latency_penalty: float | None
    cost_penalty: float | None
    mu: float
    spend_usd: float | None
    edge_latency_s: float | None = None  # mean edge draft time since the previous poll
    edge_tokens_per_s: float | None = None  # llama-server's llamacpp:predicted_tokens_seconds


def _spend(text: str) -> float | None:
    for family in text_string_to_metric_families(text):
        if family.name == "netgpt_cloud_cost_usd":
            return sum(s.value for s in family.samples if s.name.endswith("_total"))
    return None


def _edge_time(text: str) -> tuple[float, float]:
    """(sum of seconds, count) of the gateway's edge calls (``upstream_duration_seconds``)."""
    total = count = 0.0
    for family in text_string_to_metric_families(text):
        if family.name == "netgpt_upstream_duration_seconds":
            for s in family.samples:
                if s.labels.get("upstream") != "edge":
                    continue
                if s.name.endswith("_sum"):
                    total += s.value
                elif s.name.endswith("_count"):
                    count += s.value
    return total, count


def _decode_rate(text: str) -> float | None:
    """llama-server's average generation throughput (tokens/s), from its ``--metrics``."""
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "llamacpp:predicted_tokens_seconds":
                return float(s.value)
    return None


class GatewayWatch:
    def __init__(
        self,
        url: str,
        schedule: Schedule,
        interval_s: float = 0.5,
        edge_metrics_url: str | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.schedule = schedule
        self.interval_s = interval_s
        self.edge_metrics_url = edge_metrics_url
        self._edge_seen = (0.0, 0.0)
        self._edge_latency: float | None = None
        self.history: deque[GatewaySample] = deque(maxlen=240)
        self.error: str | None = None

    @property
    def latest(self) -> GatewaySample | None:
        return self.history[-1] if self.history else None

    async def run(self, stop: asyncio.Event) -> None:
        timeout = aiohttp.ClientTimeout(total=2.0)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while not stop.is_set():
                await self.poll(session)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.interval_s)

    async def poll(self, session: aiohttp.ClientSession) -> None:
        try:
            async with session.get(self.url + "/v1/router/state") as resp:
                state = await resp.json()
            async with session.get(self.url + "/metrics") as resp:
                metrics = await resp.text()
            decode = None
            if self.edge_metrics_url is not None:
                async with session.get(self.edge_metrics_url) as resp:
                    decode = _decode_rate(await resp.text())
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            self.error = type(exc).__name__
            return
        self.error = None
        spend = _spend(metrics)
        total, count = _edge_time(metrics)
        seen_total, seen_count = self._edge_seen
        if count > seen_count:
            self._edge_latency = (total - seen_total) / (count - seen_count)
            self._edge_seen = (total, count)
        cloud = state["network"]["cloud"]
        threshold = state["threshold"]
        tt = self.schedule.trace_time()
        link = self.schedule.at_trace_time(tt)
        self.history.append(
            GatewaySample(
                at=time.monotonic(),
                trace_t=tt,
                true_rtt_s=link.rtt_s,
                true_bandwidth=link.bandwidth_bytes_per_s,
                rtt_s=cloud.get("rtt_s"),
                bandwidth=cloud.get("bandwidth_bytes_per_s"),
                stale=bool(cloud.get("stale")),
                compute_s=cloud.get("compute_s"),
                tau=threshold.get("current"),
                latency_penalty=threshold.get("latency_penalty"),
                cost_penalty=threshold.get("cost_penalty"),
                mu=float(threshold.get("multiplier") or 0.0),
                spend_usd=spend,
                edge_latency_s=self._edge_latency,
                edge_tokens_per_s=decode,
            )
        )
