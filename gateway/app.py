"""Composition root: ``create_gateway(settings)`` is the full ASGI stack every run mode serves
(``netgpt serve``, the demo, the test fixtures, the fault harness): the chat fast lane over the
FastAPI app of ``create_app(settings)``, inside the wrapper that tunes the GC after startup and
installs the SIGTERM drain. ``create_app`` builds every client, probe, sink and registry.

Nothing else constructs concrete adapters; the service sees them through ``gateway.ports``.
Connections (aiohttp sessions, Redis) are opened in the lifespan, inside the running loop, and
closed there, flushing the dataset queue first.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.api import admin
from gateway.api.chat import ChatFastLane, chat_completions
from gateway.api.errors import (
    envelope_response,
    gateway_error_handler,
    http_error_handler,
    unexpected_error_handler,
)
from gateway.api.openapi import install_openapi
from gateway.config import Settings
from gateway.errors import GatewayError, RequestError
from gateway.infra.redis import redis_from_url
from gateway.metrics import GatewayMetrics
from gateway.network.static import StaticNetwork
from gateway.policy.calibration_store import CalibrationHolder
from gateway.policy.inputs import LiveInputs
from gateway.policy.prices import price_function
from gateway.ports import NetworkView
from gateway.routing.state import LinkEstimate
from gateway.server.asgi import GC_THRESHOLDS, FreezeAfterStartup
from gateway.server.drain import Drain
from gateway.service.chat import ChatService
from gateway.tenancy import Tenancy

log = logging.getLogger("netgpt.app")


async def _validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    loc = [str(p) for p in first.get("loc", ()) if p != "body"]
    err = RequestError(f"invalid value: {first.get('msg', 'invalid request')}", param=".".join(loc) or None)
    return envelope_response(err)


def create_gateway(
    settings: Settings, metrics: GatewayMetrics | None = None, *, tune_gc: bool = True
) -> FreezeAfterStartup:
    """The ASGI stack of one gateway process. ``tune_gc`` (on for servers) raises the GC's gen-0
    threshold and freezes what exists after startup; in-process test apps leave the GC alone.
    ``.app`` is the FastAPI app, ``.state`` its typed state."""
    if tune_gc:
        gc.set_threshold(*GC_THRESHOLDS)
    return FreezeAfterStartup(ChatFastLane(create_app(settings, metrics)), freeze=tune_gc)


def create_app(settings: Settings, metrics: GatewayMetrics | None = None) -> FastAPI:
    metrics = metrics or GatewayMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await _start(app, settings, metrics)
        try:
            yield
        finally:
            await _stop(app)

    app = FastAPI(
        title="NetGPT gateway",
        version="0.1.0",
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.client_keys = settings.client_keys()
    app.state.tenancy = Tenancy(settings, metrics)
    app.state.cors = bool(settings.tenancy.cors_origins)
    if settings.tenancy.cors_origins:  # off unless NETGPT_CORS_ORIGINS names the origins
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.tenancy.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["authorization", "content-type", "x-request-id", "x-slo-ttft-ms",
                           "x-slo-tpot-ms", "x-netgpt-deadline-ms"],
            expose_headers=["x-request-id", "x-netgpt-route", "x-netgpt-reason", "x-netgpt-score",
                            "x-netgpt-threshold", "x-netgpt-expert", "retry-after"],
        )
    app.state.started_at = time.time()
    app.state.drain = Drain(settings.shutdown_drain_s)  # SIGTERM: readiness fails first
    app.router.routes.append(Route("/v1/chat/completions", chat_completions, methods=["POST"]))
    app.include_router(admin.router)
    app.add_exception_handler(GatewayError, gateway_error_handler)
    app.add_exception_handler(HTTPException, http_error_handler)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, unexpected_error_handler)
    install_openapi(app)
    return app


async def _start(app: FastAPI, settings: Settings, metrics: GatewayMetrics) -> None:
    from cloud_adapter.client import CloudClient
    from gateway.dataset.writer import DatasetWriter
    from gateway.network import NetworkMonitor
    from gateway.policy.budget_store import BudgetController

    state = app.state
    state.tasks = []
    r = settings.routing
    network: NetworkView
    if settings.network.probes_enabled:
        network = NetworkMonitor(settings, metrics)
    else:
        network = StaticNetwork(LinkEstimate(r.static_rtt_s, r.static_bandwidth_bytes_per_s))
        metrics.network_rtt.labels("cloud").set(r.static_rtt_s)
        metrics.network_bandwidth.labels("cloud").set(r.static_bandwidth_bytes_per_s)
    state.network = network

    state.redis = None
    state.key_limits = None
    if settings.redis_url is not None:
        state.redis = redis_from_url(settings.redis_url, socket_connect_timeout=2, socket_timeout=2)
        # per-key limits shared by every replica
        state.key_limits = state.tenancy.use_redis(state.redis)
    state.budget = BudgetController(settings, metrics, state.redis)
    state.dataset = DatasetWriter(settings, metrics) if settings.dataset.enabled else None
    state.calibration = CalibrationHolder(settings, metrics)
    state.calibration.load()

    prices = price_function(settings)
    policy = LiveInputs(
        settings,
        network,
        calibrator=state.calibration,
        prices=prices,
        multiplier=state.budget.multiplier,
    )
    state.policy = policy
    await _start_experts(state, settings, metrics)
    state.cloud = CloudClient(settings, price=prices)
    state.service = ChatService(
        settings,
        experts=state.experts,
        cloud=state.cloud,
        policy=policy,
        metrics=metrics,
        sink=state.dataset,
        budget=state.budget,
    )
    for component in (network, state.budget, state.dataset, state.key_limits):
        start = getattr(component, "start", None)
        if component is not None and start is not None:
            await start()


async def _start_experts(state: Any, settings: Settings, metrics: GatewayMetrics) -> None:
    """The edge experts (one per ``[[expert]]`` of NETGPT_EDGE_EXPERTS_FILE, else the one edge),
    a client each, their live load (scraped; shared through Redis), quality and the router."""
    import asyncio

    from edge_worker.client import EdgeClient
    from gateway.experts.config import load_experts
    from gateway.experts.load import LiveLoad
    from gateway.experts.quality import QualityHolder
    from gateway.experts.router import ExpertRouter
    from gateway.experts.shared import SharedInFlight

    experts = load_experts(settings)
    clients = {e.name: EdgeClient(e.edge) for e in experts}
    state.edge_clients = clients
    state.edge = clients[experts[0].name]  # readiness and the edge-model switch: the first one
    state.expert_load = LiveLoad(experts, settings.experts, metrics)
    state.quality = QualityHolder([tag for e in experts for tag in e.config.tags])
    state.experts = ExpertRouter(settings, experts, clients, state.expert_load, state.quality, metrics)
    await state.expert_load.start()
    state.shared_in_flight = state.quality_task = None
    if state.redis is not None:
        state.shared_in_flight = SharedInFlight(state.redis, state.expert_load, settings.experts)
        await state.shared_in_flight.start()
    if len(experts) > 1:  # quality per expert only weighs between several
        refit = state.quality.refit(state.redis, settings.dataset.stream_key, settings.data_dir)
        state.quality_task = asyncio.get_running_loop().create_task(refit)


async def _stop(app: FastAPI) -> None:
    state = app.state
    try:  # should a stop here fail, the dataset queue is still flushed
        await state.service.drain()
        await state.expert_load.stop()
        if state.quality_task is not None:
            state.quality_task.cancel()
        if state.shared_in_flight is not None:
            await state.shared_in_flight.stop()
        for component in (state.network, state.budget, state.key_limits):
            stop = getattr(component, "stop", None)
            if stop is not None:
                await stop()
        for client in (*state.edge_clients.values(), state.cloud):
            await client.aclose()
    finally:
        if state.dataset is not None:
            # last: every record the service accepted goes to Redis or the spool
            await state.dataset.stop()
        if state.redis is not None:
            await state.redis.aclose()
