"""What the benchmark measures: a target is a URL that answers the benchmark request, and the
process (if any) that must be running for it.

The gateway runs as operators run it (``python -m gateway.cli serve``: uvicorn, uvloop,
httptools) with validation, scoring, metrics, request logging, the dataset writer (to its own
redis-server) and network probes all on; only the upstream URLs point at the canned upstream.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import orjson

from bench.common import procs
from bench.load.upstream import Upstream

START_TIMEOUT_S = 240.0


@dataclass
class Target:
    """``name``: a row of the table; ``server``: the process under test (None for nginx)."""

    name: str
    port: int
    path: str
    body: bytes
    server: procs.Server | None = None
    expect_route: str | None = None  # the x-netgpt-route a gateway target must answer with
    headers: tuple[str, ...] = ()  # "Name: value" lines the load generators add (a client key)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    def check(self) -> str | None:
        """One request: 200 with an answer (chat ``choices`` or Responses ``output``), and for a
        gateway the expected route (else the run is meaningless). Returns the route taken."""
        sent = dict(line.split(": ", 1) for line in self.headers)
        status, headers, raw = procs.post(self.url, self.body, headers=sent)
        if status != 200:
            raise RuntimeError(f"{self.name} answered HTTP {status}: {raw[:300]!r}")
        answer = orjson.loads(raw)
        if not (answer.get("choices") or answer.get("output")):
            raise RuntimeError(f"{self.name} answered without choices or output: {raw[:300]!r}")
        route = headers.get("x-netgpt-route")
        if self.expect_route is not None and route != self.expect_route:
            raise RuntimeError(
                f"{self.name} routed to {route!r} "
                f"({headers.get('x-netgpt-reason')}), expected {self.expect_route!r}"
            )
        return route


def start_redis(rundir: Path, cpus: str | None) -> tuple[procs.Server, int]:
    """A private redis-server for the dataset stream (the shared one stays untouched)."""
    exe = shutil.which("redis-server")
    if exe is None:
        raise RuntimeError("redis-server not found: apt-get install -y redis-server")
    port = procs.free_port()
    cmd = [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
           "--dir", str(rundir), "--maxmemory", "512mb", "--maxmemory-policy", "allkeys-lru"]
    server = procs.start("redis", cmd, cpus=cpus, logdir=rundir)
    return server, port


def gateway_env(upstream: Upstream, edge_route: str, redis_port: int | None, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NETGPT_")}
    env.update(
        NETGPT_EDGE_BASE_URL=upstream.base_url(edge_route),
        NETGPT_EDGE_MODEL="edge",
        NETGPT_CLOUD_BASE_URL=upstream.base_url("cloud"),
        NETGPT_CLOUD_MODEL="cloud",
        NETGPT_CLOUD_API_KEY="bench-not-a-secret",
        NETGPT_DATA_DIR=str(data_dir),
        NETGPT_LOG_LEVEL="info",
        NETGPT_LOG_REQUESTS="true",
        # the stream is capped so a long run cannot fill the private redis
        NETGPT_DATASET_STREAM_MAXLEN="20000",
    )
    if redis_port is not None:
        env["NETGPT_REDIS_URL"] = f"redis://127.0.0.1:{redis_port}/0"
    return env


def start_gateway(
    name: str, upstream: Upstream, edge_route: str, rundir: Path, *, cpus: str | None,
    workers: int = 1, redis_port: int | None = None, src: Path | None = None,
    extra_env: Mapping[str, str | None] | None = None,
) -> tuple[procs.Server, int]:
    """The gateway of this tree, or with ``src`` the one of another source tree (a checkout of
    an earlier commit: same interpreter and dependencies, its own ``gateway`` package).
    ``extra_env`` switches features on (a value of None removes the variable)."""
    port = procs.free_port()
    data_dir = rundir / f"{name}-data"
    data_dir.mkdir(exist_ok=True)
    cmd = [sys.executable, "-m", "gateway.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
           "--workers", str(workers)]
    env = gateway_env(upstream, edge_route, redis_port, data_dir)
    for key, value in (extra_env or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    if src is not None:
        env["PYTHONPATH"] = str(src)
    server = procs.start(name, cmd, cpus=cpus, logdir=rundir, env=env, cwd=src or Path.cwd())
    # generous: on a loaded shared box importing the gateway alone has taken over a minute
    try:
        procs.wait_ready(server, f"http://127.0.0.1:{port}/healthz", timeout_s=START_TIMEOUT_S)
    except RuntimeError:
        server.stop()  # not yet the caller's to stop: it never got it
        raise
    return server, port
