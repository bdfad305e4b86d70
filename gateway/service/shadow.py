"""Shadow exploration: a share ε of edge-answered requests also goes to the cloud in the
background, never delaying the client; the pair becomes a calibration label (ARCHITECTURE.md,
"Calibration and exploration")."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

from gateway.config import Settings
from gateway.errors import UpstreamError
from gateway.infra.tasks import cancel_and_wait
from gateway.metrics import GatewayMetrics
from gateway.ports import CloudBackend
from gateway.service.answer import Answerer
from gateway.service.context import RequestContext
from gateway.service.observe import Budget, Observer


class Shadow:
    def __init__(
        self,
        settings: Settings,
        *,
        cloud: CloudBackend,
        answerer: Answerer,
        observer: Observer,
        metrics: GatewayMetrics,
        budget: Budget | None,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.rate = settings.routing.shadow_rate
        self.cloud = cloud
        self.answerer = answerer
        self.observer = observer
        self.metrics = metrics
        self.budget = budget
        self.rng = rng
        self._slots = asyncio.Semaphore(settings.routing.shadow_max_concurrency)
        self._background: set[asyncio.Task[None]] = set()

    def maybe(self, ctx: RequestContext) -> None:
        if self.rate <= 0 or ctx.reason == "forced" or self.rng() >= self.rate:
            return
        if self._slots.locked() or (self.budget is not None and self.budget.exhausted()):
            self.metrics.shadow_requests.labels("skipped").inc()
            return
        task = asyncio.get_running_loop().create_task(self._run(ctx))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _run(self, ctx: RequestContext) -> None:
        async with self._slots:
            try:
                answer = await self.cloud.complete(self.answerer.cloud_body(ctx.raw, stream=False))
            except UpstreamError:
                self.metrics.shadow_requests.labels("error").inc()
                return
            self.metrics.shadow_requests.labels("ok").inc()
            ctx.cloud_s = answer.latency_s
            self.observer.after_cloud(ctx, answer, kind="shadow")

    async def drain(self, timeout_s: float = 5.0) -> None:
        """Wait for background calls at shutdown, then cancel what is left (never hanging)."""
        if self._background:
            _, pending = await asyncio.wait(set(self._background), timeout=timeout_s)
            await cancel_and_wait(pending)
