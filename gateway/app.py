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
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.api import admin, responses
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
from gateway.policy.verifier_store import VerifierHolder
from gateway.ports import Background, NetworkView
from gateway.routing.state import LinkEstimate
from gateway.server.asgi import GC_THRESHOLDS, FreezeAfterStartup
from gateway.server.drain import Drain
from gateway.service.chat import ChatService
from gateway.tenancy import Tenancy

if TYPE_CHECKING:  # the adapters are imported where they are built, in the lifespan
    from redis.asyncio import Redis

    from cloud_adapter.client import CloudClient
    from edge_worker.client import EdgeClient
    from gateway.dataset.writer import DatasetWriter
    from gateway.experts.load import LiveLoad
    from gateway.experts.placer import ExpertPlacer
    from gateway.experts.quality import QualityHolder
    from gateway.policy.budget_store import BudgetController

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
    # what exists before the lifespan runs; the rest is ``app.state.runtime`` (:class:`Runtime`)
    app.state.settings = settings
    app.state.metrics = metrics
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
    app.router.routes.append(Route("/v1/responses", responses.create_response, methods=["POST"]))
    app.router.routes.append(Route("/v1/responses/{response_id}", responses.stored_response,
                                   methods=["GET", "DELETE"]))
    app.include_router(admin.router)
    app.add_exception_handler(GatewayError, gateway_error_handler)
    app.add_exception_handler(HTTPException, http_error_handler)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, unexpected_error_handler)
    install_openapi(app)
    return app


@dataclass(slots=True)
class Runtime:
    """The typed application state built in the lifespan (``app.state.runtime``): every
    component the routes reach, and the background ones in the order they start."""

    network: NetworkView
    redis: Redis | None
    budget: BudgetController
    dataset: DatasetWriter | None
    calibration: CalibrationHolder
    verifier: VerifierHolder
    inputs: LiveInputs
    edge_clients: dict[str, EdgeClient]
    edge: EdgeClient  # readiness and the edge-model switch: the first expert's client
    expert_load: LiveLoad
    quality: QualityHolder
    experts: ExpertPlacer
    cloud: CloudClient
    service: ChatService
    background: list[Background] = field(default_factory=list)


def runtime(app: Any) -> Runtime:
    """The started application's runtime (the lifespan has run)."""
    value: Runtime = app.state.runtime
    return value


async def _start(app: FastAPI, settings: Settings, metrics: GatewayMetrics) -> None:
    from cloud_adapter.client import CloudClient
    from edge_worker.client import EdgeClient
    from gateway.dataset.writer import DatasetWriter
    from gateway.experts.config import load_experts
    from gateway.experts.load import LiveLoad
    from gateway.experts.placer import ExpertPlacer
    from gateway.experts.quality import QualityHolder
    from gateway.experts.shared import SharedInFlight
    from gateway.infra.tasks import BackgroundTask
    from gateway.network import NetworkMonitor
    from gateway.policy.budget_store import BudgetController

    r = settings.routing
    network: NetworkView
    if settings.network.probes_enabled:
        network = NetworkMonitor(settings, metrics)
    else:
        network = StaticNetwork(LinkEstimate(r.static_rtt_s, r.static_bandwidth_bytes_per_s))
        metrics.network_rtt.labels("cloud").set(r.static_rtt_s)
        metrics.network_bandwidth.labels("cloud").set(r.static_bandwidth_bytes_per_s)
    redis = None
    background: list[Background] = [network] if isinstance(network, NetworkMonitor) else []
    if settings.redis_url is not None:
        redis = redis_from_url(settings.redis_url, socket_connect_timeout=2, socket_timeout=2)
        background.append(app.state.tenancy.use_redis(redis))  # per-key limits for every replica
    budget = BudgetController(settings, metrics, redis)
    dataset = DatasetWriter(settings, metrics) if settings.dataset.enabled else None
    calibration = CalibrationHolder(settings, metrics)
    calibration.load()
    verifier = VerifierHolder(settings)
    verifier.load()
    if redis is not None:
        await verifier.load_shared(redis)  # the fit every replica uses, when one was stored
    prices = price_function(settings)
    inputs = LiveInputs(settings, network, calibrator=calibration, prices=prices,
                        multiplier=budget.multiplier)
    experts = load_experts(settings)
    clients = {e.name: EdgeClient(e.edge) for e in experts}
    load = LiveLoad(experts, settings.experts, metrics)
    quality = QualityHolder([tag for e in experts for tag in e.config.tags])
    router = ExpertPlacer(settings, experts, clients, load, quality, metrics)
    cloud = CloudClient(settings, price=prices)
    service = ChatService(settings, experts=router, cloud=cloud, inputs=inputs, metrics=metrics,
                          sink=dataset, budget=budget, verifier=verifier)
    background += [budget, load]
    if redis is not None:  # in-flight counts shared between replicas
        background.append(SharedInFlight(redis, load, settings.experts))
    if len(experts) > 1:  # quality per expert only weighs between several
        background.append(
            BackgroundTask(lambda: quality.refit(redis, settings.dataset.stream_key, settings.data_dir))
        )
    if dataset is not None:
        background.append(dataset)  # last: stopped last, after everything that submits records
    app.state.runtime = Runtime(
        network=network, redis=redis, budget=budget, dataset=dataset, calibration=calibration,
        verifier=verifier, inputs=inputs, edge_clients=clients, edge=clients[experts[0].name],
        expert_load=load, quality=quality, experts=router, cloud=cloud, service=service, background=background,
    )
    for component in background:
        await component.start()


async def _stop(app: FastAPI) -> None:
    rt = runtime(app)
    try:  # should a stop here fail, the dataset queue is still flushed
        await rt.service.drain()
        for component in reversed(rt.background):
            if component is not rt.dataset:
                await component.stop()
        for edge in rt.edge_clients.values():
            await edge.aclose()
        await rt.cloud.aclose()
    finally:
        if rt.dataset is not None:
            # last: every record the service accepted goes to Redis or the spool
            await rt.dataset.stop()
        if rt.redis is not None:
            await rt.redis.aclose()
