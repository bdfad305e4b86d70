"""The ASGI wrapper every gateway process runs under: GC tuning after startup, and the SIGTERM
drain (``gateway.server.drain``). ``gateway.app.create_gateway`` applies it."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

# Cyclic GC: a request allocates hundreds of containers (parsed JSON), so with Python's default
# gen-0 threshold of 700 the collector ran every request or two and, as in-flight objects got
# promoted, a full collection over the ~100k objects of the loaded modules every few seconds
# (15 ms or more each, the p99 at saturation). Nothing the request path builds forms cycles
# that must die young, so gen 0 may grow larger, and what exists after startup is frozen.
GC_THRESHOLDS = (50_000, 20, 100)


class FreezeAfterStartup:
    """ASGI wrapper: when the app's lifespan startup has completed, move every object alive
    then (modules, the app, its clients) into the GC's permanent generation (``gc.freeze``),
    so collections only walk what requests allocate; and take over SIGTERM from uvicorn so
    readiness fails before the listener closes (``gateway.server.drain``)."""

    def __init__(self, app: Any, *, freeze: bool = True) -> None:
        self.app = app
        self.freeze = freeze

    def __getattr__(self, name: str) -> Any:  # app.state and friends stay reachable
        return getattr(self.app, name)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def send_and_freeze(message: Any) -> None:
            if message.get("type") == "lifespan.startup.complete":
                if self.freeze:
                    gc.collect()
                    gc.freeze()
                # uvicorn's signal handlers are in place by now; ours wraps its SIGTERM one
                drain = getattr(self.app.state, "drain", None)  # absent on a bare app
                if drain is not None:
                    drain.install(asyncio.get_running_loop())
            await send(message)

        await self.app(scope, receive, send_and_freeze)
