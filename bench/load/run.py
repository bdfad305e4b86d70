"""One load run: start everything, measure the targets in interleaved rounds, write the result.

Phases: saturation (wrk, fixed connections), fixed rates (openloop), worker scaling (1 vs 2
gateway workers) and an optional soak. Within a phase every round visits every target in turn,
so drift on the shared machine (other jobs, thermal) spreads over all of them alike.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import platform
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import procs
from bench.common.bodies import request_bytes
from bench.load import configs as configs_mod
from bench.load import litellm, loadgen, report, targets, upstream
from bench.load import soak as soak_mod
from bench.load.report import (
    BASE_EDGE,
    BASE_FALLBACK,
    DIRECT,
    DIRECT_CLOUD,
    EDGE,
    FALLBACK,
    LITELLM,
)

SERVER_CPU, OTHER_CPU = "0", "1"


@dataclass
class Options:
    out: Path = Path("out/bench-load")
    tools_dir: Path = Path.home() / ".cache" / "netgpt-bench"
    upstream: str = "nginx"
    connections: int = 16
    rounds: int = 3
    saturation_s: float = 10.0
    rate_s: float = 10.0
    warmup_s: float = 2.0
    rates: list[float] = field(default_factory=lambda: [50.0, 1000.0])
    latency_rate: float = 1000.0
    litellm: bool = True
    install: bool = True
    workers: bool = True
    soak_s: float = 0.0
    soak_rate: float | None = None
    soak_path: str = "fallback"  # fallback: every request is a cloud-routed pair for Redis
    baseline_src: Path | None = None  # another source tree measured beside this one
    configs: tuple[str, ...] = configs_mod.ALL  # operator configurations measured beside the edge path
    baseline_configs: bool = False  # with baseline_src: the configurations of that tree too


Step = Callable[[str], None]


@contextlib.contextmanager
def _stack() -> Iterator[list[procs.Server]]:
    started: list[procs.Server] = []
    try:
        yield started
    finally:
        for server in reversed(started):
            server.stop()


def _loadavg() -> str:
    with contextlib.suppress(OSError):
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return "?"


def _trim_logs(rundir: Path, keep: int = 1 << 20) -> None:
    """Request logs of a long run are big; keep the last MiB of each."""
    for log in rundir.glob("*.log"):
        if log.stat().st_size > 8 * keep:
            with log.open("rb") as f:
                f.seek(-keep, os.SEEK_END)
                tail = f.read()
            log.write_bytes(b"[... trimmed by the benchmark ...]\n" + tail)


def measure(opts: Options, step: Step) -> dict[str, Any]:
    rundir = (opts.out / "run").resolve()
    shutil.rmtree(rundir, ignore_errors=True)
    rundir.mkdir(parents=True)
    pin = procs.can_pin()
    server_cpu, other_cpu = (SERVER_CPU, OTHER_CPU) if pin else (None, None)
    result: dict[str, Any] = {
        "meta": {
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "host": platform.node(), "cpus": os.cpu_count(), "python": platform.python_version(),
            "pinning": "server CPU 0, upstream+load CPU 1" if pin else "none (no taskset or 1 CPU)",
            "upstream": opts.upstream, "connections": opts.connections, "rounds": opts.rounds,
            "saturation_s": opts.saturation_s, "rate_s": opts.rate_s, "warmup_s": opts.warmup_s,
            "body_bytes": len(request_bytes()), "loadavg_before": _loadavg(),
            "rate_generator": "openloop (bench/load/openloop.c, C, epoll, open loop)",
            "saturation_generator": "wrk (Debian), 1 thread",
        }
    }
    openloop = loadgen.build_openloop(opts.tools_dir)
    with _stack() as started:
        step("capturing the canned answers from the fake upstreams")
        canned = upstream.capture(rundir)
        step(f"starting the upstream ({opts.upstream}), redis and the gateways")
        up = upstream.start_nginx(canned, rundir, other_cpu) if opts.upstream == "nginx" else upstream.start_fakes(rundir, other_cpu)
        started.extend(up.servers)
        redis, redis_port = targets.start_redis(rundir, other_cpu)
        started.append(redis)
        gw_edge, edge_port = targets.start_gateway(EDGE, up, "edge", rundir, cpus=server_cpu, redis_port=redis_port)
        started.append(gw_edge)
        gw_fb, fb_port = targets.start_gateway(FALLBACK, up, "invalid", rundir, cpus=server_cpu, redis_port=redis_port)
        started.append(gw_fb)
        baseline: dict[str, int] = {}
        if opts.baseline_src is not None:
            for name, route in ((BASE_EDGE, "edge"), (BASE_FALLBACK, "invalid")):
                server, port = targets.start_gateway(name, up, route, rundir, cpus=server_cpu,
                                                     redis_port=redis_port, src=opts.baseline_src)
                started.append(server)
                baseline[name] = port
            result["meta"]["baseline_src"] = str(opts.baseline_src)
        extra: list[tuple[str, configs_mod.Config, Path | None]] = []
        for cfg in configs_mod.build(opts.configs, up, rundir):
            extra.append((cfg.name, cfg, None))
            if opts.baseline_src is not None and opts.baseline_configs:
                extra.append((report.BASE_PREFIX + cfg.name, cfg, opts.baseline_src))
        extra_ports: dict[str, tuple[procs.Server, int]] = {}
        for name, cfg, src in extra:
            step(f"starting the gateway: {name}")
            extra_ports[name] = targets.start_gateway(
                name, up, "edge", rundir, cpus=server_cpu, redis_port=redis_port, src=src, extra_env=cfg.env)
            started.append(extra_ports[name][0])
            if cfg.name == configs_mod.VERIFIER and not configs_mod.verifier_loaded(extra_ports[name][1]):
                raise RuntimeError(f"the verifier gateway {name} did not load {configs_mod.VERIFIER_FILE}")
        chat = "/v1/chat/completions"
        edge_body = upstream.edge_request()
        tgts = {
            DIRECT: targets.Target(DIRECT, *up.chat_path("edge"), edge_body),
            DIRECT_CLOUD: targets.Target(DIRECT_CLOUD, *up.chat_path("cloud"), edge_body),
            EDGE: targets.Target(EDGE, edge_port, chat, request_bytes(), gw_edge, "edge"),
            FALLBACK: targets.Target(FALLBACK, fb_port, chat, request_bytes(), gw_fb, "cloud"),
        }
        for name, port in baseline.items():
            server = next(s for s in started if s.name == name)
            tgts[name] = targets.Target(name, port, chat, request_bytes(), server,
                                        "edge" if name == BASE_EDGE else "cloud")
        for name, cfg, _ in extra:
            server, port = extra_ports[name]
            # the verifier decides the route itself: the row says which it took
            tgts[name] = targets.Target(name, port, cfg.path, cfg.body, server,
                                        None if cfg.name == configs_mod.VERIFIER else "edge", cfg.headers)
        if opts.litellm:
            step("starting the LiteLLM proxy (installing it on first use)")
            exe = litellm.ensure_installed(opts.tools_dir, install=opts.install)
            try:
                lite, lite_port = litellm.start(exe, up.base_url("edge"), rundir, server_cpu)
            except RuntimeError as exc:  # it did not come up (a loaded box): the rest still runs
                result["meta"]["litellm_error"] = str(exc)[:300]
            else:
                started.append(lite)
                tgts[LITELLM] = targets.Target(LITELLM, lite_port, chat, request_bytes(litellm.MODEL), lite)
                result["meta"]["litellm"] = litellm.version(opts.tools_dir)
        under_test = [t.server for t in tgts.values() if t.server is not None]
        files: dict[str, tuple[Path, Path]] = {}
        routes: dict[str, str] = {}
        for t in tgts.values():
            taken = t.check()
            if taken is not None:
                routes[t.name] = taken
            body_file = rundir / f"body-{t.name}.json"
            body_file.write_bytes(t.body)
            script = rundir / f"wrk-{t.name}.lua"
            script.write_text(loadgen.lua_script(t.body, t.headers))
            files[t.name] = (body_file, script)
        result["meta"]["routes"] = routes

        def saturate(
            t: targets.Target, seconds: float, cpus: str | None = other_cpu, connections: int | None = None
        ) -> loadgen.Saturation:
            with procs.only_running(under_test, t.server):
                cpu = t.server.cpu_seconds() if t.server is not None else None
                run = loadgen.run_wrk(t.url, files[t.name][1], seconds, connections or opts.connections, cpus)
                if t.server is not None and cpu is not None:
                    run = dataclasses.replace(run, cpu_s=t.server.cpu_seconds() - cpu)
                return run

        def at_rate(t: targets.Target, rate: float) -> loadgen.FixedRate:
            with procs.only_running(under_test, t.server):
                return loadgen.run_openloop(
                    openloop, t.port, t.path, files[t.name][0], rate, opts.rate_s, opts.connections,
                    opts.warmup_s, other_cpu, t.headers,
                )

        config_names = [name for name, _, _ in extra]
        sat_names = [n for n in (DIRECT, LITELLM, EDGE, BASE_EDGE, *config_names, FALLBACK, BASE_FALLBACK)
                     if n in tgts]
        for name in sat_names:
            step(f"warming up {name}")
            saturate(tgts[name], opts.warmup_s)
        sat_rounds: dict[str, list[loadgen.Saturation]] = {n: [] for n in sat_names}
        for r in range(opts.rounds):
            for name in sat_names:
                step(f"saturation round {r + 1}/{opts.rounds}: {name}")
                sat_rounds[name].append(saturate(tgts[name], opts.saturation_s))
        result["saturation"] = report.summarize_saturation(sat_rounds)

        lite_rps = result["saturation"].get(LITELLM, {}).get("rps", 0.0)
        result["fixed_rate"] = {}
        for rate in opts.rates:
            names = [DIRECT, DIRECT_CLOUD, EDGE, *baseline, *config_names, FALLBACK]
            if LITELLM in tgts and rate <= 0.8 * lite_rps:
                names.insert(2, LITELLM)
            rate_rounds: dict[str, list[loadgen.FixedRate]] = {n: [] for n in names}
            for r in range(opts.rounds):
                for name in names:
                    step(f"{rate:g} req/s round {r + 1}/{opts.rounds}: {name}")
                    rate_rounds[name].append(at_rate(tgts[name], rate))
            result["fixed_rate"][f"{rate:g}"] = report.summarize_rate(rate_rounds)

        if opts.workers and (os.cpu_count() or 1) > 1:
            try:
                result["workers"] = _workers_phase(opts, up, rundir, redis_port, started, under_test, files,
                                                   saturate, step)
            except RuntimeError as exc:  # the table of the other phases still stands
                result["workers"] = {"error": str(exc)[:500]}

        if opts.soak_s > 0:
            name = EDGE if opts.soak_path == "edge" else FALLBACK
            rate = opts.soak_rate or round(result["saturation"][name]["rps"] / 2)
            step(f"soak: {opts.soak_s:.0f} s at {rate:g} req/s on the {opts.soak_path} path")
            result["soak"] = soak_mod.soak(
                tgts[name], files[name][0], openloop, rate, opts.soak_s, opts.connections,
                under_test, other_cpu, progress=step,
            )
            result["soak"]["path"] = opts.soak_path

    result["meta"]["loadavg_after"] = _loadavg()
    result["derived"] = report.derive(result["saturation"], result["fixed_rate"], result["meta"].get("routes"))
    result["checks"] = report.checks(result, f"{opts.latency_rate:g}")
    _trim_logs(rundir)
    return result


def _workers_phase(
    opts: Options, up: upstream.Upstream, rundir: Path, redis_port: int, started: list[procs.Server],
    under_test: list[procs.Server], files: dict[str, tuple[Path, Path]],
    saturate: Callable[..., loadgen.Saturation], step: Step,
) -> dict[str, Any]:
    """1 vs 2 workers of one gateway, unpinned, with the shared state on."""
    # the shared state on: limits leased from Redis, experts' in-flight counts through it
    shared = configs_mod.build((configs_mod.SHARED,), up, rundir)[0]
    gws: dict[str, targets.Target] = {}
    # uvicorn's workers share one listening socket and a connection stays with the worker
    # that accepted it: 16 connections opened at once all went to one worker, so this
    # phase opens 4x as many (--connections x 4, at least 64) to spread them
    conns = max(64, 4 * opts.connections)
    per: dict[str, list[loadgen.Saturation]] = {"1": [], "2": []}
    try:
        for n in ("1", "2"):
            step(f"starting the shared-state gateway with {n} worker(s)")
            server, port = targets.start_gateway(
                f"{shared.name}-{n}w", up, "edge", rundir, cpus=None, workers=int(n),
                redis_port=redis_port, extra_env=shared.env)
            started.append(server)
            under_test.append(server)
            gws[n] = targets.Target(server.name, port, shared.path, shared.body, server, "edge", shared.headers)
            gws[n].check()
            files[server.name] = (files[EDGE][0], rundir / f"wrk-{server.name}.lua")
            files[server.name][1].write_text(loadgen.lua_script(shared.body, shared.headers))
        for n in ("1", "2"):
            saturate(gws[n], opts.warmup_s, None, conns)
        for r in range(opts.rounds):
            step(f"workers round {r + 1}/{opts.rounds}")
            for n in ("1", "2"):
                per[n].append(saturate(gws[n], opts.saturation_s, None, conns))
    finally:
        for srv in [s for s in under_test if s.name.startswith(shared.name)]:
            srv.stop()
            under_test.remove(srv)
    out = report.summarize_workers(per, conns)
    out["config"] = "keys + limits via Redis (leased), experts file (2), in-flight counts shared"
    return out
