"""Hot-path pieces the load benchmark's profiles led to: the GC freeze after startup."""

from __future__ import annotations

import gc
from typing import Any

from starlette.applications import Starlette

from gateway.serve import FreezeAfterStartup


async def _lifespan(app: Any) -> list[dict[str, Any]]:
    incoming = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[dict[str, Any]] = []
    frozen_at_complete: list[int] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0)

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "lifespan.startup.complete":
            frozen_at_complete.append(gc.get_freeze_count())
        sent.append(message)

    await app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive, send)
    return [*sent, {"frozen": frozen_at_complete}]


async def test_startup_complete_freezes_what_exists_then() -> None:
    inner = Starlette()
    inner.state.marker = "kept"
    app = FreezeAfterStartup(inner)
    gc.unfreeze()
    try:
        messages = await _lifespan(app)
        types = [m.get("type") for m in messages[:-1]]
        assert types == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
        # frozen before the server is told startup is complete, i.e. before any request
        assert messages[-1]["frozen"][0] > 1000
        assert app.state.marker == "kept"  # attributes of the wrapped app stay reachable
    finally:
        gc.unfreeze()
