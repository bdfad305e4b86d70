"""``netgpt serve``: the gateway under uvicorn (uvloop event loop, httptools parser)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

# set by `netgpt serve` for its uvicorn workers (internal, not a setting)
WORKERS_ENV = "_NETGPT_SERVE_WORKERS"

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


_slot_lock: int | None = None  # held for the worker's whole life


def app_factory() -> Any:
    """Entry point for uvicorn workers (``gateway.server.serve:app_factory``, factory=True)."""
    global _slot_lock
    from gateway.app import create_gateway
    from gateway.config import load_settings
    from gateway.server.logs import configure_logging
    from gateway.server.workers import claim_slot, worker_settings

    settings = load_settings()
    configure_logging(settings.log_level)
    workers = int(os.environ.get(WORKERS_ENV, "1"))
    if workers > 1:
        slot, _slot_lock = claim_slot(settings.data_dir, workers)
        settings = worker_settings(settings, slot)
    return create_gateway(settings)


def run(args: argparse.Namespace) -> int:
    from gateway.config import ConfigError, load_settings

    if args.log_level:
        os.environ["NETGPT_LOG_LEVEL"] = args.log_level
    try:
        settings = load_settings()
        from gateway.policy.prices import price_function

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

    from gateway.server.header_deadline import client_deadline

    os.environ[WORKERS_ENV] = str(args.workers)  # the spawned workers inherit it
    uvicorn.run(
        "gateway.server.serve:app_factory",
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
