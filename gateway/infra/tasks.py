"""Stopping background tasks without ever hanging on one.

Python 3.11's ``asyncio.wait_for`` can swallow a cancel that races its inner await, so a loop
that uses it may survive ``task.cancel()``; a bare ``await task`` after the cancel then waits
forever (it hung the gateway's shutdown in CI). Cancel until every task is done instead.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine, Iterable
from typing import Any


async def cancel_and_wait(tasks: Iterable[asyncio.Task[object] | None], rounds: int = 100) -> None:
    """Cancel ``tasks`` (None entries skipped) and wait, re-cancelling any that survive, for up
    to ``rounds`` x 0.1 s; exceptions of finished tasks are retrieved and dropped."""
    todo = [task for task in tasks if task is not None]
    for _ in range(rounds):
        pending = [task for task in todo if not task.done()]
        if not pending:
            break
        for task in pending:
            task.cancel()
        await asyncio.wait(pending, timeout=0.1)
    for task in todo:
        if task.done() and not task.cancelled():
            with contextlib.suppress(Exception):
                task.result()


class BackgroundTask:
    """One coroutine run as a background component (``gateway.ports.Background``): started in
    the lifespan, cancelled through :func:`cancel_and_wait` at shutdown."""

    def __init__(self, run: Callable[[], Coroutine[Any, Any, object]]) -> None:
        self._run = run
        self._task: asyncio.Task[object] | None = None

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        await cancel_and_wait([self._task])
