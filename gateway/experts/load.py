"""Live load of the edge experts: the gateway's own in-flight counts (exact, changed around each
edge call) and the servers' gauges, scraped from ``/metrics`` in the background.

Gauges read (summed over label sets; a server exports one family or the other):

=============  ===============================  ==================================
field          vLLM                             llama.cpp (``llama-server --metrics``)
=============  ===============================  ==================================
running        ``vllm:num_requests_running``    ``llamacpp:requests_processing``
waiting        ``vllm:num_requests_waiting``    ``llamacpp:requests_deferred``
kv_usage       ``vllm:kv_cache_usage_perc``     —
tokens_per_s   —                                ``llamacpp:predicted_tokens_seconds``
=============  ===============================  ==================================

Health: a scrape that gets no HTTP answer (refused, reset, timed out) or an edge call that fails
the same way (or with a 5xx) marks the expert down at once; the next scrape that gets an answer
marks it up. So a dead expert is avoided from its first failed request or within one scrape
interval, and used again within one interval of coming back. A server without ``/metrics``
(404) is up with unknown gauges. Gauges older than ``stale_after_s`` are flagged stale.

    load = LiveLoad(experts, settings.experts, metrics)
    await load.start()                      # one scrape task per expert
    concurrency = load.acquire("smol")      # before the edge call (this one included)
    ...; load.release("smol")               # after it, whatever happened
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from gateway.config import ExpertsSettings
from gateway.experts.config import Expert
from gateway.infra.tasks import cancel_and_wait
from gateway.metrics import GatewayMetrics

log = logging.getLogger("netgpt.experts")

GAUGES: dict[str, str] = {
    "vllm:num_requests_running": "running",
    "vllm:num_requests_waiting": "waiting",
    "vllm:kv_cache_usage_perc": "kv_usage",
    "llamacpp:requests_processing": "running",
    "llamacpp:requests_deferred": "waiting",
    "llamacpp:predicted_tokens_seconds": "tokens_per_s",
}
_PREFIXES = tuple(GAUGES)


def parse_gauges(text: str) -> dict[str, float]:
    """The load gauges in a Prometheus text exposition (``{"running": 2.0, ...}``).

    Only the lines of the wanted families go to the parser: vLLM's page is mostly histograms,
    and parsing all of it four times a second would cost more than the rest of the scrape."""
    wanted = [
        line
        for line in text.splitlines()
        if line.startswith(_PREFIXES)
        or (line.startswith("# TYPE ") and line[7:].startswith(_PREFIXES))
    ]
    out: dict[str, float] = {}
    for family in text_string_to_metric_families("\n".join(wanted) + "\n"):
        field = GAUGES.get(family.name)
        if field is None:
            continue
        for sample in family.samples:
            if sample.name == family.name:
                out[field] = out.get(field, 0.0) + float(sample.value)
    return out


@dataclass(slots=True)
class ExpertLoad:
    """What is known about one expert's load right now."""

    name: str
    in_flight: int = 0  # this replica's edge calls to it, exact
    remote_in_flight: int = 0  # other replicas' (through Redis), up to one share interval old
    running: float | None = None
    waiting: float | None = None
    kv_usage: float | None = None
    tokens_per_s: float | None = None
    scraped_at: float | None = None  # monotonic time of the last answered scrape
    healthy: bool = True
    last_error: str | None = None
    failures: int = 0

    @property
    def total_in_flight(self) -> int:
        return self.in_flight + self.remote_in_flight

    def stale(self, now: float, after_s: float) -> bool:
        return self.scraped_at is None or now - self.scraped_at > after_s


class LiveLoad:
    """Per-expert load; implements what ``gateway.experts.placer`` reads and updates."""

    def __init__(
        self,
        experts: Sequence[Expert],
        settings: ExpertsSettings,
        metrics: GatewayMetrics,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.loads = {e.name: ExpertLoad(e.name) for e in experts}
        self._urls = {e.name: _scrape_target(e) for e in experts}
        self._headers = {
            e.name: {"authorization": f"Bearer {e.config.api_key.get_secret_value()}"}
            for e in experts
            if e.config.api_key is not None
        }
        for name, load in self.loads.items():  # read at scrape time: nothing per request
            metrics.expert_in_flight.labels(name).set_function(_counter(load))
        self._up_gauge = {e.name: metrics.expert_up.labels(e.name) for e in experts}
        for gauge in self._up_gauge.values():
            gauge.set(1)
        self._session: aiohttp.ClientSession | None = None
        self._tasks: list[asyncio.Task[None]] = []

    # ---------------------------------------------------------------- request path (no I/O)
    def acquire(self, name: str) -> int:
        """Count an edge call to ``name``; returns its concurrency, this call included."""
        load = self.loads[name]
        load.in_flight += 1
        return load.in_flight + load.remote_in_flight

    def release(self, name: str) -> None:
        self.loads[name].in_flight -= 1

    def failed(self, name: str, why: str) -> None:
        """An edge call failed on the expert's side: avoid it until a scrape gets an answer."""
        self._set_health(self.loads[name], False, why)

    def stale(self, load: ExpertLoad) -> bool:
        return load.stale(self.clock(), self.settings.stale_after_s)

    # ---------------------------------------------------------------- background scrapes
    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.settings.scrape_timeout_s)
        )
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._scrape_loop(name)) for name in self.loads]

    async def stop(self) -> None:
        await cancel_and_wait(self._tasks)
        self._tasks = []
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _scrape_loop(self, name: str) -> None:
        interval = self.settings.scrape_interval_s
        while True:
            started = self.clock()
            await self.scrape(name)
            await asyncio.sleep(max(interval - (self.clock() - started), 0.0))

    async def scrape(self, name: str) -> None:
        """One scrape of ``name``'s ``/metrics`` (or ``/models`` for a server without one)."""
        assert self._session is not None, "start() first"
        load = self.loads[name]
        url, is_metrics = self._urls[name]
        try:
            async with self._session.get(url, headers=self._headers.get(name)) as resp:
                body = await resp.text() if is_metrics and resp.status == 200 else ""
        except (aiohttp.ClientError, TimeoutError) as exc:
            self._set_health(load, False, f"scrape {type(exc).__name__}")
            return
        except Exception as exc:  # never let a scrape task die
            self._set_health(load, False, f"scrape {type(exc).__name__}")
            log.warning("scrape of expert %s failed: %r", name, exc)
            return
        gauges = _safe_parse(body) if body else {}
        load.running = gauges.get("running")
        load.waiting = gauges.get("waiting")
        load.kv_usage = gauges.get("kv_usage")
        load.tokens_per_s = gauges.get("tokens_per_s")
        load.scraped_at = self.clock()
        self._set_health(load, True, None)

    def _set_health(self, load: ExpertLoad, healthy: bool, why: str | None) -> None:
        if healthy != load.healthy:
            log.warning(
                "expert %s is %s", load.name, "back up" if healthy else f"down ({why})"
            )
            self._up_gauge[load.name].set(1 if healthy else 0)
        if not healthy:
            load.failures += 1
            load.last_error = why
        load.healthy = healthy

    def state(self) -> dict[str, dict[str, Any]]:
        """Per expert, for ``GET /v1/router/state``."""
        now = self.clock()
        return {
            name: {
                "healthy": load.healthy,
                "in_flight": load.in_flight,
                "remote_in_flight": load.remote_in_flight,
                "running": load.running,
                "waiting": load.waiting,
                "kv_usage": load.kv_usage,
                "tokens_per_s": load.tokens_per_s,
                "scrape_age_s": None if load.scraped_at is None else round(now - load.scraped_at, 3),
                "stale": load.stale(now, self.settings.stale_after_s),
                "failures": load.failures,
                "last_error": load.last_error,
            }
            for name, load in self.loads.items()
        }


def _counter(load: ExpertLoad) -> Callable[[], float]:
    return lambda: float(load.in_flight)


def _scrape_target(expert: Expert) -> tuple[str, bool]:
    url = expert.config.scrape_url()
    if url is not None:
        return url, True
    return str(expert.config.base_url).rstrip("/") + "/models", False


def _safe_parse(text: str) -> dict[str, float]:
    try:
        return parse_gauges(text)
    except ValueError:  # a foreign page on /metrics: up, gauges unknown
        return {}
