"""Graceful shutdown of ``netgpt serve``: readiness fails first, then uvicorn's own shutdown.

On SIGTERM:

1. ``/readyz`` answers 503 (``"draining": true``) at once, so a load balancer stops sending new
   requests; for ``NETGPT_SHUTDOWN_DRAIN_S`` the gateway still serves whatever still arrives;
2. then uvicorn closes the listening socket (new connections are refused), closes idle
   kept-alive connections and gives requests in flight ``NETGPT_SHUTDOWN_GRACE_S`` to finish
   (what is still running then is cancelled);
3. the lifespan shutdown stops the background tasks and flushes the dataset queue to Redis or
   the spool (``gateway.app._stop``).

A second SIGTERM during the drain window skips the rest of it. uvicorn installs its signal
handlers before the app starts; :meth:`Drain.install` wraps uvicorn's SIGTERM handler once the
lifespan startup has completed (``gateway.server.serve.FreezeAfterStartup``), in the worker's main
thread. In a server run from another thread (tests) there is no signal to catch and
:meth:`begin` is called directly.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
from types import FrameType
from typing import Any

log = logging.getLogger("netgpt.app")


class Drain:
    """Whether this process is shutting down; read by the readiness probe."""

    def __init__(self, drain_s: float) -> None:
        self.drain_s = drain_s
        self.since: float | None = None  # time.monotonic() of the SIGTERM

    @property
    def draining(self) -> bool:
        return self.since is not None

    def begin(self) -> None:
        if self.since is None:
            self.since = time.monotonic()
            log.info("shutting down: readiness fails now, new connections refused in %.1f s", self.drain_s)

    def install(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Wrap the SIGTERM handler in place (uvicorn's); False where signals can't be caught."""
        if threading.current_thread() is not threading.main_thread():
            return False
        previous = signal.getsignal(signal.SIGTERM)
        if not callable(previous):
            return False

        def on_term(sig: int, frame: FrameType | None) -> None:
            if self.draining:  # a second SIGTERM: no more waiting
                previous(sig, frame)
                return
            self.begin()
            loop.call_soon_threadsafe(self._later, loop, previous, sig)

        signal.signal(signal.SIGTERM, on_term)
        return True

    def _later(self, loop: asyncio.AbstractEventLoop, handler: Any, sig: int) -> None:
        loop.call_later(self.drain_s, handler, sig, None)
