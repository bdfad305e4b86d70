"""``netgpt serve``: the gateway under uvicorn (uvloop event loop, httptools parser)."""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import functools
import gc
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gateway.config import Settings

# set by `netgpt serve` for its uvicorn workers (internal, not a setting)
WORKERS_ENV = "_NETGPT_SERVE_WORKERS"

# Cyclic GC: a request allocates hundreds of containers (parsed JSON), so with Python's default
# gen-0 threshold of 700 the collector ran every request or two and, as in-flight objects got
# promoted, a full collection over the ~100k objects of the loaded modules every few seconds
# (15 ms or more each, the p99 at saturation). Nothing the request path builds forms cycles
# that must die young, so gen 0 may grow larger, and what exists after startup is frozen.
GC_THRESHOLDS = (50_000, 20, 100)


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "serve",
        help="run the gateway (HTTP, OpenAI-compatible)",
        description=(
            "Run the gateway. Settings come from NETGPT_* environment variables (see the README); "
            "they are validated before the server starts."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8080, help="TCP port (default: %(default)s)")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes sharing the port (default: %(default)s); shared state (budget, "
        "calibration) lives in Redis when NETGPT_REDIS_URL is set",
    )
    parser.add_argument(
        "--log-level",
        default=None,
        choices=["debug", "info", "warning", "error"],
        help="overrides NETGPT_LOG_LEVEL",
    )
    parser.set_defaults(func=run)


class FreezeAfterStartup:
    """ASGI wrapper: when the app's lifespan startup has completed, move every object alive
    then (modules, the app, its clients) into the GC's permanent generation (``gc.freeze``),
    so collections only walk what requests allocate; and take over SIGTERM from uvicorn so
    readiness fails before the listener closes (``gateway.shutdown``)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __getattr__(self, name: str) -> Any:  # app.state and friends stay reachable
        return getattr(self.app, name)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def send_and_freeze(message: Any) -> None:
            if message.get("type") == "lifespan.startup.complete":
                gc.collect()
                gc.freeze()
                # uvicorn's signal handlers are in place by now; ours wraps its SIGTERM one
                drain = getattr(self.app.state, "drain", None)  # absent on a bare app
                if drain is not None:
                    drain.install(asyncio.get_running_loop())
            await send(message)

        await self.app(scope, receive, send_and_freeze)


_slot_lock: int | None = None  # held for the worker's whole life


def claim_slot(data_dir: Path, workers: int) -> tuple[int, int]:
    """(slot, fd): the lowest worker slot no live process holds, locked with ``flock``.

    A dead worker's lock goes with it, so its replacement takes the same slot and finds (and
    drains) the spool the dead one left."""
    locks = data_dir / "workers"
    locks.mkdir(parents=True, exist_ok=True)
    for slot in range(4 * workers):
        fd = os.open(locks / f"slot-{slot}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return slot, fd
    raise RuntimeError(f"no free worker slot in {locks}: is another `netgpt serve` using this NETGPT_DATA_DIR?")


def worker_settings(settings: Settings, slot: int) -> Settings:
    """A worker's settings: its own data dir for the dataset spool (the spool admits one
    process), the calibration file still the shared one. Slot 0 keeps NETGPT_DATA_DIR, so
    ``netgpt dataset drain`` and one-worker setups see the same spool as before."""
    if slot == 0:
        return settings
    calibration = settings.calibration.model_copy(update={"file": settings.calibration_file})
    return settings.model_copy(
        update={"data_dir": settings.data_dir / "workers" / str(slot), "calibration": calibration}
    )


def app_factory() -> Any:
    """Entry point for uvicorn workers (``gateway.serve:app_factory``, factory=True)."""
    global _slot_lock
    from gateway.api.chat import ChatFastLane
    from gateway.app import create_app
    from gateway.config import load_settings
    from gateway.logs import configure_logging

    settings = load_settings()
    configure_logging(settings.log_level)
    workers = int(os.environ.get(WORKERS_ENV, "1"))
    if workers > 1:
        slot, _slot_lock = claim_slot(settings.data_dir, workers)
        settings = worker_settings(settings, slot)
    gc.set_threshold(*GC_THRESHOLDS)
    return FreezeAfterStartup(ChatFastLane(create_app(settings)))


def client_deadline(settings: Settings) -> Any:
    """uvicorn's httptools protocol with a deadline on request headers (slow-loris clients)."""
    from gateway.http_deadline import HeaderDeadlineProtocol

    return functools.partial(HeaderDeadlineProtocol, header_timeout_s=settings.client_timeout_s)


def run(args: argparse.Namespace) -> int:
    from gateway.config import ConfigError, load_settings

    if args.log_level:
        os.environ["NETGPT_LOG_LEVEL"] = args.log_level
    try:
        settings = load_settings()
        from gateway.app import price_function

        price_function(settings)  # a bad price schedule file stops us here, not in a worker
        from gateway.experts.config import check_experts

        check_experts(settings)  # so does a bad experts file or placement policy
    except ConfigError as exc:
        print(f"netgpt: invalid configuration: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    if args.workers < 1:
        print("netgpt: --workers must be at least 1", file=sys.stderr)  # noqa: T201
        return 2

    import uvicorn

    os.environ[WORKERS_ENV] = str(args.workers)  # the spawned workers inherit it
    uvicorn.run(
        "gateway.serve:app_factory",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        loop="uvloop",
        log_config=None,
        access_log=False,
        # typed int, used as asyncio.wait_for's timeout: a float works
        timeout_graceful_shutdown=settings.shutdown_grace_s,  # type: ignore[arg-type]
        http=client_deadline(settings),  # httptools, with a deadline on the headers
        server_header=False,
        log_level=settings.log_level,
    )
    return 0
