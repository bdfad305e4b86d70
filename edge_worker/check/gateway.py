"""A ``netgpt serve`` child for the check: the user's edge settings, the cloud switched off.

The gateway inherits the caller's ``NETGPT_*`` settings (the edge's URL, model, flavour and
prefill, as ``netgpt edge run`` prints them) with everything the check must not touch turned
off: the cloud points at a loopback port nothing listens on, no network probes, no shadow
calls, no dataset logging, no Redis, no client keys, a throw-away data directory.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

HOST = "127.0.0.1"
CLOUD_OFF = "http://127.0.0.1:9/v1"  # the discard port: a cloud call fails at once
EDGE_TIMEOUT_S = "60"
DROPPED = ("NETGPT_REDIS_URL", "NETGPT_API_KEYS", "NETGPT_API_KEYS_FILE", "NETGPT_CLOUD_API_KEY",
           "NETGPT_EDGE_EXPERTS_FILE")


class GatewayFailed(RuntimeError):
    """The gateway did not start; the message says where its log is."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def check_env(base: Mapping[str, str], data_dir: Path,
              overrides: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in base.items() if k not in DROPPED}
    env.update({
        "NETGPT_CLOUD_BASE_URL": CLOUD_OFF,
        "NETGPT_NETWORK_PROBES_ENABLED": "false",
        "NETGPT_ROUTING_SHADOW_RATE": "0",
        "NETGPT_DATASET_ENABLED": "false",
        "NETGPT_DATA_DIR": str(data_dir),
        "NETGPT_LOG_REQUESTS": "false",
    })
    # a small CPU edge can take tens of seconds per draft: the gateway's own 10 s default would
    # turn a slow answer into a 504 (the user's NETGPT_EDGE_TIMEOUT_S wins)
    env.setdefault("NETGPT_EDGE_TIMEOUT_S", EDGE_TIMEOUT_S)
    env.update(overrides)
    return env


class CheckGateway:
    """``netgpt serve`` on a free loopback port, stopped (SIGTERM) on exit."""

    def __init__(self, env: Mapping[str, str], log_path: Path, ready_timeout_s: float = 60) -> None:
        self.env = dict(env)
        self.log_path = log_path
        self.ready_timeout_s = ready_timeout_s
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def __enter__(self) -> CheckGateway:
        self.port = free_port()
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "gateway.cli", "serve", "--host", HOST,
                 "--port", str(self.port)],
                env=self.env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + self.ready_timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                break
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as resp:  # noqa: S310
                    if resp.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        self.stop()
        tail = "\n".join(self.log_path.read_text(errors="replace").splitlines()[-10:])
        raise GatewayFailed(f"the gateway did not start; its log ({self.log_path}) ends:\n{tail}")

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def environ() -> dict[str, str]:
    return dict(os.environ)
