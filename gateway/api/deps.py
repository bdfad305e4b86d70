"""What a route takes from the application: its typed runtime (``gateway.app.Runtime``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request

if TYPE_CHECKING:
    from gateway.app import Runtime


def runtime(request: Request) -> Runtime:
    """The components the lifespan built (service, clients, stores)."""
    rt: Runtime = request.app.state.runtime
    return rt
