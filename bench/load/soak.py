"""The soak: one gateway path under a constant open-loop rate for a long time, watched for leaks.

Every 5 s it samples the gateway's resident memory, its open file descriptors (``/proc/PID/fd``)
and CPU, and CPU 0's busy time (to tell the gateway's load from other jobs'). At the end it reads
the gateway's ``/metrics``: requests by status, dataset records by sink, spool depth, and compares
the records written to Redis with the requests answered on the fallback path (each one is a
cloud-routed pair).

RSS is judged after warm-up (allocator arenas and the young GC generation fill in the first
minutes): growth from the end of warm-up to the end, and over the second half alone.

``netgpt bench load --soak-only --soak 1800`` runs just this (with a short saturation run first
to find half saturation, unless ``--soak-rate`` is given); ``netgpt bench load --soak S`` runs it
after the full table.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson

from bench.common import procs
from bench.common.bodies import request_bytes
from bench.load import loadgen, targets, upstream
from bench.load.report import EDGE, FALLBACK

SERVER_CPU, OTHER_CPU = "0", "1"
SAMPLE_S = 5.0
Step = Callable[[str], None]


def fd_count(server: procs.Server) -> int:
    """Open file descriptors of the process and its descendants."""
    total = 0
    for pid in server.pids():
        with contextlib.suppress(OSError):
            total += len(os.listdir(f"/proc/{pid}/fd"))
    return total


def non_socket_fds(server: procs.Server) -> int:
    """Open descriptors that are not sockets (files, pipes, event fds): these must stay flat,
    while sockets follow the client and upstream connections."""
    total = 0
    for pid in server.pids():
        with contextlib.suppress(OSError):
            for name in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    if not os.readlink(f"/proc/{pid}/fd/{name}").startswith("socket:"):
                        total += 1
    return total


def cpu_busy_s(cpu: int) -> float:
    """Seconds CPU ``cpu`` has spent busy (anything but idle and iowait) since boot."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith(f"cpu{cpu} "):
                ticks = [int(v) for v in line.split()[1:]]
                return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")
    return float("nan")


def loadavg() -> str:
    with contextlib.suppress(OSError):
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return "?"


def scrape(port: int) -> dict[str, float]:
    """The gateway's ``netgpt_*`` samples as {'name{labels}': value}."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("netgpt_") and " " in line:
            name, _, value = line.rpartition(" ")
            with contextlib.suppress(ValueError):
                out[name] = float(value)
    return out


def _sum(samples: dict[str, float], prefix: str, contains: str = "") -> float:
    return sum(v for k, v in samples.items() if k.startswith(prefix) and contains in k)


def growth_pct(start: float, end: float) -> float:
    return 100.0 * (end - start) / start if start else float("nan")


def summarize(samples: Sequence[tuple[float, int, int]], seconds: float, warmup_s: float) -> dict[str, Any]:
    """RSS and fd figures from (at_s, rss_bytes, fds) samples."""
    settled = [s for s in samples if s[0] >= warmup_s] or list(samples[-1:])
    half = [s for s in samples if s[0] >= seconds / 2] or list(samples[-1:])
    first, last = settled[0], samples[-1]
    fds = [s[2] for s in settled]
    # client connections come and go (keep-alive closes, the generator reopens), so the count
    # moves within a band; a leak shows as the band's top rising: compare the halves' maxima
    early = [s[2] for s in settled if s[0] < seconds / 2] or fds
    return {
        "warmup_s": warmup_s,
        "rss_first_mb": samples[0][1] / 2**20,
        "rss_start_mb": first[1] / 2**20,
        "rss_end_mb": last[1] / 2**20,
        "rss_max_mb": max(s[1] for s in samples) / 2**20,
        "rss_growth_pct": growth_pct(first[1], last[1]),
        "rss_growth_second_half_pct": growth_pct(half[0][1], last[1]),
        "fd_start": first[2], "fd_end": last[2], "fd_min": min(fds), "fd_max": max(fds),
        "fd_max_first_half": max(early), "fd_max_second_half": max(s[2] for s in half),
    }


def soak(
    t: targets.Target, body_file: Path, openloop: Path, rate: float, seconds: float,
    connections: int, under_test: list[procs.Server], cpus: str | None, *,
    progress: Step | None = None,
) -> dict[str, Any]:
    """openloop at ``rate`` for ``seconds`` against ``t``; samples every 5 s; figures."""
    assert t.server is not None
    cmd = procs.pinned(
        [str(openloop), "127.0.0.1", str(t.port), t.path, str(body_file), f"{rate:g}",
         f"{seconds:g}", str(connections), "0"],
        cpus,
    )
    before = scrape(t.port)
    samples: list[tuple[float, int, int]] = []
    other_fds: list[tuple[float, int]] = []
    cpu: list[tuple[float, float, float]] = []
    started = time.monotonic()
    load: list[tuple[float, str]] = []
    with procs.only_running(under_test, t.server):
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        while proc.poll() is None:
            at = time.monotonic() - started
            samples.append((at, t.server.rss_bytes(), fd_count(t.server)))
            other_fds.append((at, non_socket_fds(t.server)))
            cpu.append((at, t.server.cpu_seconds(), cpu_busy_s(int(SERVER_CPU))))
            if not load or at - load[-1][0] >= 60:
                load.append((at, loadavg()))
                if progress is not None:
                    progress(f"soak: {at:.0f}/{seconds:.0f} s at {rate:g} req/s, RSS "
                             f"{samples[-1][1] / 2**20:.1f} MB, {samples[-1][2]} fds, load {load[-1][1]}")
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(SAMPLE_S)
        out, err = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"openloop failed ({proc.returncode}): {err.strip()[-300:]}")
    time.sleep(1.0)  # the writer flushes its last batch
    after = scrape(t.port)
    report_ = orjson.loads(out)
    run = loadgen.FixedRate.from_openloop(report_)
    windows = [
        {"at_s": round(b[0], 1), "gateway_cpu": round((b[1] - a[1]) / (b[0] - a[0]), 3),
         "cpu0_busy": round((b[2] - a[2]) / (b[0] - a[0]), 3)}
        for a, b in zip(cpu, cpu[1:], strict=False) if b[0] > a[0]
    ]
    worst = report_.get("worst_ms_per_second", [])

    def delta(prefix: str, contains: str = "") -> float:
        return _sum(after, prefix, contains) - _sum(before, prefix, contains)

    result: dict[str, Any] = {
        "seconds": seconds, "rate": rate, "achieved_rps": run.achieved_rps,
        "completed": run.completed, "errors": run.errors,
        # the generator's own counts: errors above = errors + non2xx + unfinished + dropped
        "openloop": {k: report_.get(k) for k in
                     ("scheduled", "completed", "errors", "non2xx", "unfinished", "dropped", "reconnects")},
        "p50_ms": run.p50_ms, "p99_ms": run.p99_ms, "max_ms": run.max_ms,
        "seconds_with_a_request_over_100ms": sum(1 for w in worst if w > 100),
        "gateway": {
            "requests_200": delta("netgpt_requests_total", 'status="200"'),
            "requests_not_200": delta("netgpt_requests_total") - delta("netgpt_requests_total", 'status="200"'),
            "dataset_records_redis": delta("netgpt_dataset_records_total", 'sink="redis"'),
            "dataset_records_spool": delta("netgpt_dataset_records_total", 'sink="spool"'),
            "dataset_dropped": delta("netgpt_dataset_dropped_total"),
            "spool_depth_end": _sum(after, "netgpt_dataset_spool_depth"),
            # over the gateway's whole life (check request, saturation run and soak): on the
            # fallback path every 200 is a cloud-routed pair, so these must match
            "life_requests_200": _sum(after, "netgpt_requests_total", 'status="200"'),
            "life_records": _sum(after, "netgpt_dataset_records_total"),
        },
        "loadavg": [{"at_s": round(a, 1), "loadavg": v} for a, v in load],
        "worst_ms_per_second": worst,
        "cpu_windows": windows,
        "samples": [(round(a, 1), rss, fds) for a, rss, fds in samples],
        "non_socket_fds": [(round(a, 1), n) for a, n in other_fds],
    }
    result |= summarize(samples, seconds, min(300.0, max(60.0, seconds / 6)))
    settled = [n for a, n in other_fds if a >= result["warmup_s"]] or [n for _, n in other_fds]
    result["non_socket_fds_min"], result["non_socket_fds_max"] = min(settled), max(settled)
    return result


def measure_soak(
    *, out: Path, tools_dir: Path, path: str, seconds: float, rate: float | None,
    connections: int, saturation_s: float, upstream_kind: str, step: Step,
) -> dict[str, Any]:
    """Only the soak: upstream, redis, one gateway (``path``: edge or fallback), a short
    saturation run to find half saturation (unless ``rate``), then the soak."""
    rundir = (out / "run").resolve()
    shutil.rmtree(rundir, ignore_errors=True)
    rundir.mkdir(parents=True)
    pin = procs.can_pin()
    server_cpu, other_cpu = (SERVER_CPU, OTHER_CPU) if pin else (None, None)
    meta: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "cpus": os.cpu_count(),
        "pinning": "gateway CPU 0, upstream+redis+load CPU 1" if pin else "none",
        "upstream": upstream_kind, "path": path, "connections": connections,
        "loadavg_before": loadavg(),
    }
    openloop = loadgen.build_openloop(tools_dir)
    started: list[procs.Server] = []
    try:
        step("capturing the canned answers from the fake upstreams")
        canned = upstream.capture(rundir)
        step(f"starting the upstream ({upstream_kind}), redis and the gateway")
        up = (upstream.start_nginx(canned, rundir, other_cpu) if upstream_kind == "nginx"
              else upstream.start_fakes(rundir, other_cpu))
        started.extend(up.servers)
        redis, redis_port = targets.start_redis(rundir, other_cpu)
        started.append(redis)
        name, edge_route, expect = (EDGE, "edge", "edge") if path == "edge" else (FALLBACK, "invalid", "cloud")
        gw, port = targets.start_gateway(name, up, edge_route, rundir, cpus=server_cpu, redis_port=redis_port)
        started.append(gw)
        t = targets.Target(name, port, "/v1/chat/completions", request_bytes(), gw, expect)
        t.check()
        body_file = rundir / "body.json"
        body_file.write_bytes(t.body)
        if rate is None:
            script = rundir / "wrk.lua"
            script.write_text(loadgen.lua_script(t.body))
            step(f"saturation: {saturation_s:g} s of wrk against the {path} path")
            sat = loadgen.run_wrk(t.url, script, saturation_s, connections, other_cpu)
            meta["saturation_rps"] = sat.rps
            rate = float(max(1, round(sat.rps / 2)))
        step(f"soak: {seconds:.0f} s at {rate:g} req/s on the {path} path")
        result = soak(t, body_file, openloop, rate, seconds, connections, [gw], other_cpu, progress=step)
        client_redis = shutil.which("redis-cli")
        if client_redis:
            xlen = subprocess.run([client_redis, "-p", str(redis_port), "XLEN", "netgpt:pairs"],
                                  capture_output=True, text=True, check=False).stdout.strip()
            result["redis_stream_length"] = int(xlen) if xlen.isdigit() else None
    finally:
        for server in reversed(started):
            server.stop()
    meta["loadavg_after"] = loadavg()
    return {"meta": meta, "soak": result}


def soak_lines(soak_: dict[str, Any], path: str = "edge") -> list[str]:
    """The soak's lines in the printed report."""
    gw = soak_.get("gateway", {})
    windows = soak_.get("cpu_windows", [])

    def mean(key: str) -> str:
        values = [w[key] for w in windows]
        return f"{sum(values) / len(values):.2f}" if values else "-"

    lines = [
        f"Soak: {soak_['seconds']:.0f} s at {soak_['rate']:g} req/s on the {path} path: "
        f"{soak_['completed']} done, {soak_['errors']} errors, p50 {soak_['p50_ms']:.2f} ms, "
        f"p99 {soak_['p99_ms']:.2f} ms, max {soak_['max_ms']:.0f} ms",
        f"  RSS {soak_['rss_first_mb']:.1f} MB at start, {soak_['rss_start_mb']:.1f} MB after "
        f"{soak_.get('warmup_s', 60):.0f} s warm-up, {soak_['rss_end_mb']:.1f} MB at the end "
        f"({soak_['rss_growth_pct']:+.2f}% after warm-up; second half "
        f"{soak_.get('rss_growth_second_half_pct', float('nan')):+.2f}%)",
    ]
    ol = soak_.get("openloop")
    if ol:
        lines.append(
            f"  generator: {ol['scheduled']} scheduled, {ol['completed']} completed; errors = "
            f"{ol['errors']} connection errors + {ol['non2xx']} non-2xx + {ol['unfinished']} unfinished "
            f"at the end + {ol['dropped']} dropped (due while the generator's queue was full)"
        )
    if "fd_start" in soak_:
        lines.append(
            f"  file descriptors after warm-up: {soak_['fd_start']} -> {soak_['fd_end']} "
            f"(min {soak_['fd_min']}, max {soak_['fd_max']}; highest in the first half "
            f"{soak_.get('fd_max_first_half', '-')}, in the second {soak_.get('fd_max_second_half', '-')})"
        )
    if "non_socket_fds_min" in soak_:
        lines.append(
            f"  descriptors that are not sockets, after warm-up: {soak_['non_socket_fds_min']}"
            f"-{soak_['non_socket_fds_max']} (sockets follow the connections)"
        )
    if gw:
        lines.append(
            f"  gateway: {gw['requests_200']:.0f} answered 200, {gw['requests_not_200']:.0f} other; "
            f"dataset records to Redis {gw['dataset_records_redis']:.0f}, to the spool "
            f"{gw['dataset_records_spool']:.0f}, dropped {gw['dataset_dropped']:.0f}, spool depth "
            f"at the end {gw['spool_depth_end']:.0f}"
        )
        if "life_records" in gw:
            lines.append(
                f"  since the gateway started: {gw['life_requests_200']:.0f} answered 200, "
                f"{gw['life_records']:.0f} dataset records written (Redis + spool)"
            )
    lines.append(
        f"  seconds with a request over 100 ms: {soak_.get('seconds_with_a_request_over_100ms', '-')}; "
        f"CPU 0 busy {mean('cpu0_busy')} cores, of which the gateway {mean('gateway_cpu')}"
    )
    if soak_.get("loadavg"):
        lines.append("  load average (1/5/15 min) every minute: "
                     + ", ".join(item["loadavg"].split()[0] for item in soak_["loadavg"]))
    return lines


def plot(result: dict[str, Any], path: Path) -> Path:
    """RSS and file descriptors, the gateway's CPU against CPU 0's, and the load average, over
    the soak (matplotlib: the ``bench`` extra)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    soak_ = result["soak"] if "soak" in result else result
    samples = soak_["samples"]
    minutes = [s[0] / 60 for s in samples]
    fig, (top, mid, low) = plt.subplots(3, 1, figsize=(9, 8), sharex=True)
    top.plot(minutes, [s[1] / 2**20 for s in samples], color="tab:blue")
    top.set_ylabel("gateway RSS (MB)")
    top.axvline(soak_.get("warmup_s", 60) / 60, color="grey", linestyle=":", label="end of warm-up")
    top.legend(loc="lower right")
    fds = top.twinx()
    fds.plot(minutes, [s[2] for s in samples], color="tab:orange")
    fds.set_ylabel("open file descriptors", color="tab:orange")
    windows = soak_["cpu_windows"]
    mid.plot([w["at_s"] / 60 for w in windows], [w["cpu0_busy"] for w in windows], label="CPU 0 busy (all jobs)")
    mid.plot([w["at_s"] / 60 for w in windows], [w["gateway_cpu"] for w in windows], label="of which the gateway")
    mid.set_ylabel("cores")
    mid.legend(loc="center right")
    load = soak_.get("loadavg", [])
    low.plot([x["at_s"] / 60 for x in load], [float(x["loadavg"].split()[0]) for x in load], marker=".")
    low.set_ylabel("load average (1 min), 2 cores")
    low.set_xlabel("minutes into the soak")
    fig.suptitle(f"Soak: {soak_['seconds'] / 60:.0f} min at {soak_['rate']:g} req/s")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
