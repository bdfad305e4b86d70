"""Models, health, readiness, metrics, router state and the edge-model switch."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field

from gateway.api.deps import runtime
from gateway.dataset.readers import logged_records
from gateway.errors import GatewayError, UpstreamError

REFERENCE_REQUEST_BYTES = 2000  # τ in /v1/router/state is shown for a request of this size


def require_key(request: Request) -> None:
    request.app.state.tenancy.authenticate(request.headers)


def require_admin(request: Request) -> None:
    request.app.state.tenancy.require_admin(request.headers)


def metrics_auth(request: Request) -> None:
    if request.app.state.tenancy.metrics_require_admin:
        request.app.state.tenancy.require_admin(request.headers)


Authorized = Annotated[None, Depends(require_key)]
Admin = Annotated[None, Depends(require_admin)]
router = APIRouter()


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness: the process serves HTTP."""
    return {"status": "ok"}


async def _probe(name: str, ping: Any, timeout_s: float) -> tuple[str, dict[str, Any]]:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(ping(), timeout_s)
    except (UpstreamError, TimeoutError, OSError) as exc:
        message = exc.message if isinstance(exc, GatewayError) else type(exc).__name__
        return name, {"ok": False, "error": message}
    return name, {"ok": True, "latency_s": round(time.perf_counter() - started, 4)}


@router.get(
    "/readyz",
    responses={
        200: {"description": "Both upstreams answer", "content": {"application/json": {}}},
        503: {"description": "An upstream does not answer (details per upstream), or the "
              "gateway is shutting down (draining: true)",
              "content": {"application/json": {}}},
    },
)
async def readyz(request: Request) -> Response:
    """Readiness: the edge and the cloud answer (GET /models on each); 503 at once while the
    process shuts down (gateway.server.drain)."""
    state = request.app.state
    if state.drain.draining:
        body = {"ready": False, "draining": True, "upstreams": {}}
        return Response(orjson.dumps(body), status_code=503, media_type="application/json")
    timeout = state.settings.network.probe_timeout_s
    rt = runtime(request)
    results = dict(
        await asyncio.gather(
            _probe("edge", rt.edge.ping, timeout), _probe("cloud", rt.cloud.ping, timeout)
        )
    )
    ready = all(item["ok"] for item in results.values())
    return Response(
        orjson.dumps({"ready": ready, "upstreams": results}),
        status_code=200 if ready else 503,
        media_type="application/json",
    )


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"description": "Prometheus text exposition", "content": {CONTENT_TYPE_LATEST: {}}}},
)
async def metrics(request: Request, _auth: Annotated[None, Depends(metrics_auth)]) -> Response:
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/v1/models")
async def models(request: Request, _auth: Authorized) -> dict[str, Any]:
    """``auto`` lets the router decide; ``edge`` and ``cloud`` (or the upstream names) force a route."""
    service = runtime(request).service
    created = int(request.app.state.started_at)
    names = ["auto", "edge", "cloud", service.edge_model, service.cloud_model]
    seen: list[str] = []
    for name in names:
        if name not in seen:
            seen.append(name)
    return {
        "object": "list",
        "data": [{"id": n, "object": "model", "created": created, "owned_by": "netgpt"} for n in seen],
    }


@router.get("/v1/router/state")
async def router_state(request: Request, _auth: Admin) -> dict[str, Any]:
    """Live routing inputs: network per target, τ for a reference request, budget, calibration."""
    state = runtime(request)
    policy = state.inputs
    snapshot = policy.network.snapshot()
    terms = policy.threshold_for(REFERENCE_REQUEST_BYTES, snapshot)
    price = policy.prices()
    params = policy.params
    budget = state.budget.state()
    details = getattr(policy.network, "state", None)  # live monitor: probe URLs, samples, errors
    network = details() if callable(details) else snapshot.as_dict()
    return {
        "network": network,
        "threshold": terms.as_dict()
        | {
            "reference_request_bytes": REFERENCE_REQUEST_BYTES,
            "q_cloud": params.q_cloud,
            "lambda_latency": params.lambda_latency,
            "lambda_cost": params.lambda_cost,
            "price_input_per_mtok": price.input * 1e6,
            "price_output_per_mtok": price.output * 1e6,
            "multiplier": policy.mu,
        },
        "budget": budget,
        "calibration": state.calibration.meta(),
        "verifier": state.verifier.meta(),
        "dataset": state.dataset.stats() if state.dataset is not None else None,
        "models": {"edge": state.service.edge_model, "cloud": state.service.cloud_model},
        "experts": state.experts.state(),  # placement policy, live load, latency models
    }


class EdgeModelSwitch(BaseModel):
    # strict: "refit_calibration": 0 is refused, not read as false (found by schemathesis)
    model_config = ConfigDict(strict=True)

    model: str = Field(min_length=1, max_length=256)
    refit_calibration: bool = True


@router.post("/v1/router/edge-model")
async def switch_edge_model(
    request: Request, body: EdgeModelSwitch, _auth: Admin
) -> dict[str, Any]:
    """Send edge requests to another served model (e.g. a LoRA adapter just loaded into vLLM)
    and refit the score calibration: the router and the edge are updated together."""
    state = runtime(request)
    settings = request.app.state.settings
    previous = state.service.edge_model
    state.service.edge_model = body.model
    state.edge.model = body.model
    if body.model != previous and settings.calibration.required:
        # the previous model's fit says nothing of the new one: no draft is trusted until a refit
        state.calibration.clear()
    refit = verifier = None
    if body.refit_calibration:  # the router and the edge are updated together
        logged = await logged_records(state.redis, settings.dataset.stream_key, settings.data_dir)
        refit = await state.calibration.refit(state.redis, logged)  # one read, both fits
        verifier = await state.verifier.refit(state.redis, body.model, logged)
    return {"previous": previous, "model": body.model, "calibration": refit, "verifier": verifier}


@router.post("/v1/router/verifier/refit")
async def refit_verifier(request: Request, _auth: Admin) -> dict[str, Any]:
    """Refit the learned verifier for the edge model in use from the logged pairs, store it
    for every replica and score with it (too few pairs: the current one stays)."""
    state = runtime(request)
    return await state.verifier.refit(state.redis, state.service.edge_model)
