"""The load generator: BFCL (or synthetic) requests to the gateway at a rate, with a bound on
requests in flight, each answer checked against the ground truth.

Arrivals are Poisson at ``rate``, or the gaps of the Azure LLM inference trace (Patel et al.,
"Splitwise", ISCA 2024: bursty production arrivals) scaled to the same mean rate.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import itertools
import random
import time
from collections import Counter, deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import aiohttp
import orjson

from bench.common.answers import Replay
from bench.common.correct import is_correct

AZURE_FILE = "workloads/AzureLLMInferenceTrace_conv.csv"


def poisson_gaps(rate: float, seed: int) -> Iterator[float]:
    rng = random.Random(seed)
    while True:
        yield rng.expovariate(rate)


def azure_gaps(data: Path, rate: float, seed: int = 0) -> Iterator[float]:
    """Inter-arrival gaps of the Azure conversation trace, rescaled to ``rate`` per second,
    looped from a seeded starting point (the trace's first minute is quieter than its mean)."""
    path = data / AZURE_FILE
    with path.open(newline="") as fh:
        stamps = [
            datetime.fromisoformat(row["TIMESTAMP"][:26]).timestamp() for row in csv.DictReader(fh)
        ]
    gaps = [b - a for a, b in itertools.pairwise(sorted(stamps))]
    mean = sum(gaps) / len(gaps)
    scale = 1.0 / (rate * mean)
    start = random.Random(seed).randrange(len(gaps))
    return itertools.cycle([g * scale for g in gaps[start:] + gaps[:start]])


@dataclass(frozen=True, slots=True)
class Result:
    """One answered (or failed) request, as the client saw it."""

    at: float  # monotonic time of the answer
    route: str  # edge | cloud | error
    reason: str
    score: float | None
    tau: float | None
    status: int
    latency_s: float
    correct: bool | None


def _number(text: str | None) -> float | None:
    try:
        value = float(text) if text is not None else None
    except ValueError:
        return None
    return None if value is None or value != value else value  # "nan" → None


@dataclass
class Stats:
    """What the view shows about the load: counts, recent requests, latencies, accuracy."""

    started: float = field(default_factory=time.monotonic)
    sent: int = 0
    in_flight: int = 0
    routes: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    correct: Counter[str] = field(default_factory=Counter)
    checked: Counter[str] = field(default_factory=Counter)
    recent: deque[Result] = field(default_factory=lambda: deque(maxlen=400))
    latencies: dict[str, deque[float]] = field(
        default_factory=lambda: {k: deque(maxlen=20_000) for k in ("all", "edge", "cloud")}
    )
    errors: Counter[str] = field(default_factory=Counter)

    def add(self, result: Result) -> None:
        self.recent.append(result)
        if result.route == "error":
            self.errors[str(result.status)] += 1
            return
        self.routes[result.route] += 1
        self.reasons[result.reason] += 1
        for key in ("all", result.route):
            self.latencies.setdefault(key, deque(maxlen=20_000)).append(result.latency_s)
            if result.correct is not None:
                self.checked[key] += 1
                self.correct[key] += int(result.correct)

    @property
    def answered(self) -> int:
        return sum(self.routes.values())

    def accuracy(self, key: str = "all") -> float | None:
        return self.correct[key] / self.checked[key] if self.checked[key] else None

    def edge_share(self) -> float | None:
        return self.routes["edge"] / self.answered if self.answered else None

    def percentile(self, q: float, key: str = "all") -> float | None:
        values = sorted(self.latencies.get(key) or ())
        if not values:
            return None
        return values[min(len(values) - 1, int(q * len(values)))]


class LoadGenerator:
    """Sends ``replays`` (in a shuffled loop) to ``url`` at the arrival times ``gaps`` gives."""

    def __init__(
        self,
        url: str,
        replays: Sequence[Replay],
        gaps: Iterator[float],
        *,
        concurrency: int,
        stats: Stats,
        seed: int = 0,
        timeout_s: float = 60.0,
    ) -> None:
        self.url = url.rstrip("/") + "/v1/chat/completions"
        order = list(replays)
        random.Random(seed).shuffle(order)
        self._next = itertools.cycle(order)
        self.gaps = gaps
        self.slots = asyncio.Semaphore(concurrency)
        self.stats = stats
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self, stop: asyncio.Event) -> None:
        """Send until ``stop`` is set; then wait a moment for answers in flight and cancel the rest."""
        async with aiohttp.ClientSession(timeout=self.timeout) as session:
            try:
                due = time.monotonic()
                while not stop.is_set():
                    due += next(self.gaps)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), max(due - time.monotonic(), 0.0))
                    if stop.is_set():
                        break
                    await self.slots.acquire()  # the bound on requests in flight
                    if stop.is_set():
                        self.slots.release()
                        break
                    task = asyncio.create_task(self._one(session, next(self._next)))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
            finally:
                await self._drain()

    async def _drain(self, grace_s: float = 1.5) -> None:
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=grace_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def _one(self, session: aiohttp.ClientSession, replay: Replay) -> None:
        self.stats.sent += 1
        self.stats.in_flight += 1
        started = time.monotonic()
        try:
            async with session.post(
                self.url,
                data=orjson.dumps(replay.body),
                headers={"content-type": "application/json"},
            ) as resp:
                raw = await resp.read()
                h = resp.headers
                route = h.get("x-netgpt-route", "error") if resp.status == 200 else "error"
                correct = None
                if route != "error":
                    message = (orjson.loads(raw).get("choices") or [{}])[0].get("message") or {}
                    correct = is_correct(replay.request, message.get("tool_calls"))
                self.stats.add(
                    Result(
                        time.monotonic(),
                        route,
                        h.get("x-netgpt-reason", ""),
                        _number(h.get("x-netgpt-score")),
                        _number(h.get("x-netgpt-threshold")),
                        resp.status,
                        time.monotonic() - started,
                        correct,
                    )
                )
        except (aiohttp.ClientError, TimeoutError, orjson.JSONDecodeError) as exc:
            self.stats.add(
                Result(
                    time.monotonic(),
                    "error",
                    type(exc).__name__,
                    None,
                    None,
                    0,
                    time.monotonic() - started,
                    None,
                )
            )
        finally:
            self.stats.in_flight -= 1
            self.slots.release()
