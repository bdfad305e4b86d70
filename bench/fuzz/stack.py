"""The gateway under test for the fuzzers: ``netgpt serve`` with the fake edge (vLLM's shape) and
the fake cloud (OpenAI's shape) as separate processes on loopback (``bench.common.procs``)."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.common import procs
from bench.common.procs import free_port

CLIENT_KEY = "fuzz-client-key"  # NETGPT_API_KEYS: reaches every endpoint (no admin keys set)


@dataclass(frozen=True)
class Stack:
    url: str  # the gateway, http://127.0.0.1:PORT
    logdir: Path


@contextlib.contextmanager
def gateway_stack(logdir: Path, extra_env: dict[str, str] | None = None) -> Iterator[Stack]:
    logdir.mkdir(parents=True, exist_ok=True)
    edge_port, cloud_port, gw_port = free_port(), free_port(), free_port()
    py = sys.executable
    fake = [py, "-m", "bench.fakes", "--no-record", "--port"]
    env = dict(os.environ)
    env.pop("NETGPT_REDIS_URL", None)
    env.update(
        NETGPT_EDGE_BASE_URL=f"http://127.0.0.1:{edge_port}/v1",
        NETGPT_EDGE_MODEL="edge",
        NETGPT_CLOUD_BASE_URL=f"http://127.0.0.1:{cloud_port}/v1",
        NETGPT_CLOUD_MODEL="cloud",
        NETGPT_CLOUD_API_KEY="sk-fuzz-cloud-key",
        NETGPT_NETWORK_PROBES_ENABLED="false",
        NETGPT_API_KEYS=CLIENT_KEY,
        NETGPT_LOG_LEVEL="warning",
        NETGPT_DATA_DIR=str(logdir / "var"),
        **(extra_env or {}),
    )
    servers = [
        procs.start("edge", [*fake, str(edge_port), "--name", "edge", "--model", "edge"],
                    cpus=None, logdir=logdir),
        procs.start("cloud", [*fake, str(cloud_port), "--name", "cloud", "--model", "cloud",
                              "--flavor", "openai"], cpus=None, logdir=logdir),
        procs.start("gateway", [py, "-m", "gateway.cli", "serve", "--port", str(gw_port)],
                    cpus=None, logdir=logdir, env=env),
    ]
    try:
        procs.wait_ready(servers[0], f"http://127.0.0.1:{edge_port}/health")
        procs.wait_ready(servers[1], f"http://127.0.0.1:{cloud_port}/health")
        procs.wait_ready(servers[2], f"http://127.0.0.1:{gw_port}/healthz")
        yield Stack(f"http://127.0.0.1:{gw_port}", logdir)
    finally:
        for server in servers:
            server.stop()
