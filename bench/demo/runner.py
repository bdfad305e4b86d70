"""Starts every part of the demo in one event loop, runs it, and stops it cleanly.

Parts, all on loopback with real HTTP between them::

    load generator ──▶ gateway (create_app, uvicorn) ──▶ edge replay (uvicorn)
                                  └──▶ shaping proxy (trace) ──▶ cloud replay (uvicorn)

With ``--edge real`` the edge replay is replaced by the real llama-server running SmolLM2 on this
machine (``edge_worker.llamacpp.server.LlamaServer``), which the gateway reaches with the
llama.cpp flavour and the tool-call pre-fill; the cloud stays the replay.

Each server listens on a socket bound here to a free port, so nothing races for ports and
nothing is left listening once ``run_demo`` returns. SIGINT/SIGTERM set one stop event; the
parts stop in order (load, gateway, proxy, replays). A second Ctrl-C cuts graceful shutdown short.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import uvicorn
from rich.console import Console
from rich.live import Live

from bench.common.answers import Replay, build_replays
from bench.common.bfcl import DataError, check_data_dir, default_data_dir, load_requests
from bench.common.cloud_replay import ReplayUpstream
from bench.common.network import Schedule, synthetic_schedule, trace_schedule
from bench.demo.load import LoadGenerator, Stats, azure_gaps, poisson_gaps
from bench.demo.proxy import ShapingProxy
from bench.demo.synthetic import synthetic_requests
from bench.demo.view import DemoInfo, dashboard, status_line, summary
from bench.demo.watch import GatewayWatch

log = logging.getLogger("netgpt.demo")
HOST = "127.0.0.1"


@dataclass(frozen=True)
class Options:
    data: Path | None  # None: the default location, falling back to synthetic data
    synthetic: bool
    trace: str
    speed: float
    rate: float
    arrivals: str
    concurrency: int
    duration: float | None
    live: bool
    interval: float
    edge_model: str
    cloud_model: str
    auc: float
    lambda_latency: float
    budget_share: float | None
    port: int
    seed: int
    run_dir: Path | None
    edge: str = "replay"  # "real": SmolLM2 under llama-server on this machine

    @property
    def edge_real(self) -> bool:
        return self.edge == "real"


REAL_EDGE_MODEL = "smollm2"
REAL_EDGE_PREFILL = "<tool_call>\n"
REAL_EDGE_PARALLEL = 2


@dataclass
class Inputs:
    replays: dict[str, Replay]
    schedule: Schedule
    synthetic: bool
    note: str
    data: Path | None


def load_inputs(opts: Options) -> Inputs:
    """Requests, replayed answers and the network schedule; raises DataError on a bad --data."""
    data = opts.data
    note = ""
    if not opts.synthetic:
        try:
            data = check_data_dir(data or default_data_dir())
        except DataError as exc:
            if opts.data is not None:
                raise
            note = f"No data directory ({exc}). "
            data = None
    if opts.synthetic or data is None:
        note += (
            "Running on a small built-in set of SYNTHETIC tool-calling requests with simulated "
            "outcomes and a made-up network schedule: the figures below say nothing about real "
            "models. Pass --data DIR (BFCL v1, recorded outcomes, traces) for the real replay."
        )
        if opts.arrivals == "azure":
            note += " (--arrivals azure needs the data directory: Poisson arrivals instead.)"
        requests = synthetic_requests(seed=opts.seed)
        schedule = synthetic_schedule(speed=opts.speed)
        return Inputs(
            build_replays(requests, opts.auc, opts.seed, opts.edge_model),
            schedule,
            True,
            note,
            None,
        )
    requests = load_requests(data, opts.edge_model, opts.cloud_model)
    try:
        schedule = trace_schedule(data, opts.trace, speed=opts.speed)
    except ValueError as exc:
        raise DataError(str(exc)) from None
    note = f"{len(requests)} BFCL v1 requests from {data}"
    replays = build_replays(requests, opts.auc, opts.seed, opts.edge_model, data=data,
                            cloud_model=opts.cloud_model)
    if any(r.recorded for r in replays.values()):
        note += f"; answers are {opts.edge_model}'s and {opts.cloud_model}'s recorded outputs"
    return Inputs(replays, schedule, False, note, data)


# --------------------------------------------------------------------------- servers


class _Server(uvicorn.Server):
    """uvicorn without its own signal handlers: the demo owns SIGINT for all its parts."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _bind(port: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


@dataclass
class _Running:
    server: _Server
    task: asyncio.Task[None]
    sock: socket.socket

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.sock.getsockname()[1]}"


async def _serve(app: Any, port: int = 0, *, lifespan: Literal["on", "off"] = "off") -> _Running:
    sock = _bind(port)
    config = uvicorn.Config(
        app,
        log_config=None,
        log_level="warning",
        access_log=False,
        lifespan=lifespan,
        ws="none",
        timeout_graceful_shutdown=2,
        server_header=False,
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()  # raises what stopped it
            raise RuntimeError("a demo server stopped during start-up")
        await asyncio.sleep(0.02)
    return _Running(server, task, sock)


async def _shutdown(running: _Running | None, force: bool) -> None:
    if running is None:
        return
    running.server.should_exit = True
    running.server.force_exit = force
    with contextlib.suppress(Exception, asyncio.CancelledError):
        await asyncio.wait_for(asyncio.shield(running.task), 5.0)
    if not running.task.done():
        running.task.cancel()
        with contextlib.suppress(BaseException):
            await running.task
    running.sock.close()


def gateway_settings(opts: Options, edge_url: str, cloud_url: str, run_dir: Path) -> Any:
    """The gateway's settings for the demo; anything not set here comes from NETGPT_* as usual
    (NETGPT_REDIS_URL included), except keys, which would only stand in the way on loopback."""
    from bench.common.costs import LIST_PRICES
    from gateway.config import (
        BudgetSettings,
        CalibrationSettings,
        CloudSettings,
        EdgeSettings,
        NetworkSettings,
        RoutingSettings,
        Settings,
    )

    p_in, p_out = LIST_PRICES.get(opts.cloud_model, LIST_PRICES["gpt-4o-2024-08-06-FC"])
    return Settings(
        api_keys=[],
        data_dir=run_dir,
        edge=(
            EdgeSettings(
                base_url=edge_url + "/v1",
                model=REAL_EDGE_MODEL,
                api_key=None,
                flavor="llamacpp",
                call_prefill=REAL_EDGE_PREFILL,
                timeout_s=30.0,  # two CPU slots: a queued draft waits for the one before it
            )
            if opts.edge_real
            else EdgeSettings(base_url=edge_url + "/v1", model=opts.edge_model, api_key=None)
        ),
        cloud=CloudSettings(
            base_url=cloud_url + "/v1",
            model=opts.cloud_model,
            api_key=None,
            price_input_per_mtok=p_in,
            price_output_per_mtok=p_out,
            price_schedule_file=None,
        ),
        routing=RoutingSettings(lambda_latency=opts.lambda_latency, shadow_rate=0.0),
        budget=BudgetSettings(
            target_cloud_share=opts.budget_share,
            spend_per_hour_usd=None,
            window_s=60.0,
            update_every=10,
        ),
        network=NetworkSettings(
            probes_enabled=True,
            probe_interval_s=1.0,
            probe_jitter=0.1,
            probe_timeout_s=5.0,
            stale_after_s=15.0,
            bandwidth_probe_url=cloud_url + "/blob",
            bandwidth_probe_interval_s=2.0,
        ),
        calibration=CalibrationSettings(file=None),
    )


def _log_to_file(path: Path) -> logging.Handler:
    """The gateway's and uvicorn's logs go to a file: on the terminal they would tear the view."""
    from gateway.server.logs import JsonFormatter

    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    return handler


# --------------------------------------------------------------------------- the run


class Demo:
    def __init__(self, opts: Options, inputs: Inputs, console: Console) -> None:
        self.opts = opts
        self.inputs = inputs
        self.console = console
        self.stop = asyncio.Event()
        self.interrupted = False
        self.force = False
        self.stats = Stats()
        self.running: list[_Running] = []
        self.proxy: ShapingProxy | None = None
        self.watch: GatewayWatch | None = None
        self.shown: DemoInfo | None = None
        self.edge_server: Any = None  # LlamaServer with --edge real

    def _on_signal(self) -> None:
        if self.stop.is_set():
            self.force = True  # a second Ctrl-C: don't wait for graceful shutdown
            for part in self.running:
                part.server.force_exit = True
        self.interrupted = True
        self.stop.set()

    async def run(self, run_dir: Path) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._on_signal)
        gateway: _Running | None = None
        try:
            gateway = await self._start(run_dir)
            if not self.stop.is_set():
                await self._run_load(gateway.url)
        finally:
            self.stop.set()
            await self._stop(gateway)
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
        return 130 if self.interrupted else 0

    async def _start(self, run_dir: Path) -> _Running:
        from gateway.app import create_gateway

        opts, replays = self.opts, self.inputs.replays
        if opts.edge_real:
            edge_url = await self._start_real_edge()
        else:
            edge = await _serve(
                ReplayUpstream("edge", replays, model=opts.edge_model, flavor="vllm")
            )
            self.running.append(edge)
            edge_url = edge.url
        cloud = await _serve(
            ReplayUpstream(
                "cloud",
                replays,
                model=opts.cloud_model,
                flavor="openai",
                schedule=self.inputs.schedule,
            )
        )
        self.running.append(cloud)
        proxy_sock = _bind()
        self.proxy = ShapingProxy((HOST, cloud.sock.getsockname()[1]), self.inputs.schedule.now)
        await self.proxy.start(proxy_sock)
        proxy_url = f"http://{HOST}:{proxy_sock.getsockname()[1]}"
        settings = gateway_settings(opts, edge_url, proxy_url, run_dir)
        # the stack `netgpt serve` runs (fast lane, drain); the demo's process keeps its GC as is
        gateway = await _serve(create_gateway(settings, tune_gc=False), opts.port, lifespan="on")
        self.running.append(gateway)
        self.inputs.schedule.restart()  # trace time 0 is when the load starts
        return gateway

    async def _start_real_edge(self) -> str:
        from edge_worker.llamacpp.server import LlamaServer

        server = LlamaServer(model=REAL_EDGE_MODEL, parallel=REAL_EDGE_PARALLEL)
        self.edge_server = server
        self.console.print(
            f"starting llama-server with {REAL_EDGE_MODEL} (builds it on first use, ~10 min)",
            highlight=False,
        )
        await asyncio.to_thread(server.start)
        return str(server.root_url)

    def info(self, gateway_url: str) -> DemoInfo:
        o, i = self.opts, self.inputs
        return DemoInfo(
            gateway_url=gateway_url,
            edge_model="SmolLM2-135M-Instruct" if o.edge_real else o.edge_model,
            cloud_model=o.cloud_model,
            network=i.schedule.name
            + ("" if i.synthetic or i.schedule.rtt_measured else " (RTT modelled from bandwidth)"),
            speed=o.speed,
            data_note=i.note,
            synthetic=i.synthetic,
            auc=o.auc,
            rate=o.rate,
            arrivals=o.arrivals,
            edge_real=o.edge_real,
        )

    async def _run_load(self, gateway_url: str) -> None:
        opts = self.opts
        gaps = (
            azure_gaps(self.inputs.data, opts.rate, opts.seed)
            if opts.arrivals == "azure" and self.inputs.data is not None
            else poisson_gaps(opts.rate, opts.seed)
        )
        self.stats = Stats()
        edge_metrics = (
            self.edge_server.root_url + "/metrics" if self.edge_server is not None else None
        )
        watch = GatewayWatch(gateway_url, self.inputs.schedule, edge_metrics_url=edge_metrics)
        load = LoadGenerator(
            gateway_url,
            list(self.inputs.replays.values()),
            gaps,
            concurrency=opts.concurrency,
            stats=self.stats,
            seed=opts.seed,
        )
        info = self.info(gateway_url)
        self.watch, self.shown = watch, info
        tasks = [
            asyncio.create_task(load.run(self.stop)),
            asyncio.create_task(watch.run(self.stop)),
        ]
        deadline = None if opts.duration is None else time.monotonic() + opts.duration
        try:
            if opts.live:
                await self._live(info, watch, deadline)
            else:
                await self._plain(info, watch, deadline)
        finally:
            self.stop.set()
            _, pending = await asyncio.wait(tasks, timeout=0.5 if self.force else 3.0)
            for task in pending:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _wait(self, seconds: float, deadline: float | None) -> None:
        if deadline is not None:
            seconds = min(seconds, deadline - time.monotonic())
            if seconds <= 0:
                self.stop.set()
                return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop.wait(), seconds)

    async def _live(self, info: DemoInfo, watch: GatewayWatch, deadline: float | None) -> None:
        def render() -> Any:
            return dashboard(info, self.stats, watch, width=self.console.width)

        with Live(
            get_renderable=render,
            console=self.console,
            refresh_per_second=4,
            screen=True,
            redirect_stderr=False,
        ):
            while not self.stop.is_set():
                await self._wait(0.25, deadline)

    async def _plain(self, info: DemoInfo, watch: GatewayWatch, deadline: float | None) -> None:
        self.console.print(
            f"netgpt demo: gateway {info.gateway_url}; {info.data_note}",
            highlight=False,
            soft_wrap=True,
        )
        if info.synthetic:
            self.console.print(
                "WARNING: SYNTHETIC DATA, simulated models and network",
                style="bold red",
                highlight=False,
            )
        self.console.print(info.footer, highlight=False, soft_wrap=True)
        last = time.monotonic()
        while not self.stop.is_set():
            await self._wait(self.opts.interval, deadline)
            if time.monotonic() - last >= self.opts.interval / 2:  # not twice at the end
                last = time.monotonic()
                self.console.print(status_line(self.stats, watch), highlight=False, soft_wrap=True)

    async def _stop(self, gateway: _Running | None) -> None:
        # the gateway first (its lifespan flushes the dataset and closes its sessions and probes
        # while the upstreams still answer), then the link, then the replays
        await _shutdown(gateway, self.force)
        if self.proxy is not None:
            await self.proxy.stop()
        for part in reversed(self.running):
            if part is not gateway:
                await _shutdown(part, self.force)
        if self.edge_server is not None:
            await asyncio.to_thread(self.edge_server.stop)


def run_demo(opts: Options, console: Console) -> int:
    """Run until --duration or Ctrl-C; print the summary; 0 (duration), 130 (interrupted)."""
    try:
        inputs = load_inputs(opts)
    except DataError as exc:
        print(f"netgpt demo: {exc}", file=sys.stderr)
        return 2
    run_dir = opts.run_dir or Path(tempfile.mkdtemp(prefix="netgpt-demo-"))
    run_dir.mkdir(parents=True, exist_ok=True)
    handler = _log_to_file(run_dir / "gateway.log")
    demo = Demo(opts, inputs, console)
    started = time.monotonic()
    try:
        code = asyncio.run(demo.run(run_dir))
    except RuntimeError as exc:
        if not opts.edge_real:
            raise
        # BuildError / ServerStartError of the real edge: their message says what to do
        print(f"netgpt demo: the real edge did not start: {exc}", file=sys.stderr)
        code = 2
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()
    if demo.watch is not None and demo.shown is not None:
        console.print(summary(demo.shown, demo.stats, demo.watch))
    console.print(
        f"ran {time.monotonic() - started:.1f} s; gateway, proxy, replays"
        + (" and llama-server" if opts.edge_real else "")
        + " stopped.",
        highlight=False,
    )
    if opts.run_dir is None:
        shutil.rmtree(run_dir, ignore_errors=True)
    else:
        console.print(f"gateway log and dataset spool: {run_dir}", highlight=False)
    return code
