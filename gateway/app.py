"""Composition root: ``create_app(settings)`` builds every client, probe, sink and registry.

Nothing else constructs concrete adapters; the service sees them through ``gateway.ports``.
Connections (aiohttp sessions, Redis) are opened in the lifespan, inside the running loop, and
closed there, flushing the dataset queue first.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.api import admin
from gateway.api.chat import chat_completions
from gateway.api.errors import (
    envelope_response,
    gateway_error_handler,
    http_error_handler,
    unexpected_error_handler,
)
from gateway.config import Settings
from gateway.errors import GatewayError, RequestError
from gateway.metrics import GatewayMetrics
from gateway.policy import RoutingPolicy, StaticNetwork
from gateway.routing.state import LinkEstimate
from gateway.service import ChatService

log = logging.getLogger("netgpt.app")


async def _validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    loc = [str(p) for p in first.get("loc", ()) if p != "body"]
    err = RequestError(f"invalid value: {first.get('msg', 'invalid request')}", param=".".join(loc) or None)
    return envelope_response(err)


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
    app.state.started_at = time.time()
    app.router.routes.append(Route("/v1/chat/completions", chat_completions, methods=["POST"]))
    app.include_router(admin.router)
    app.add_exception_handler(GatewayError, gateway_error_handler)
    app.add_exception_handler(HTTPException, http_error_handler)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, unexpected_error_handler)
    return app


async def _start(app: FastAPI, settings: Settings, metrics: GatewayMetrics) -> None:
    from cloud_adapter.client import CloudClient
    from edge_worker.client import EdgeClient

    state = app.state
    r = settings.routing
    network = StaticNetwork(
        LinkEstimate(r.static_rtt_s, r.static_bandwidth_bytes_per_s),
    )
    state.network = network
    state.budget = None
    state.dataset = None
    state.calibration = None
    state.calibration_info = {}
    policy = RoutingPolicy(settings, network, calibrator=state.calibration)
    state.policy = policy
    state.edge = EdgeClient(settings)
    state.cloud = CloudClient(settings)
    state.service = ChatService(
        settings,
        edge=state.edge,
        cloud=state.cloud,
        policy=policy,
        metrics=metrics,
        sink=state.dataset,
        budget=state.budget,
    )
    state.calibration_meta = lambda: dict(state.calibration_info)

    async def refit() -> dict[str, Any] | None:
        return None

    state.refit_calibration = refit


async def _stop(app: FastAPI) -> None:
    state = app.state
    await state.service.drain()
    for client in (state.edge, state.cloud):
        await client.aclose()


def dumps(obj: Any) -> bytes:
    return orjson.dumps(obj)
