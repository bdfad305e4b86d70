"""The real parts a loop round runs, each on a free loopback port, each stopped when done.

- :class:`RedisServer`: a ``redis-server`` in its own directory (or an existing one by URL).
- :class:`ReplayCloud`: the cloud — the demo's replay of gpt-4o's recorded BFCL answers
  (right and wrong) on the fake OpenAI server, in a thread of this process. No internet.
- :class:`GatewayProcess`: ``netgpt serve`` as its own process, configured by ``NETGPT_*``
  environment variables exactly as an operator would.
- the edge is ``edge_worker.llamacpp.server.LlamaServer`` (the real llama-server).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from edge_worker.server_process import die_with_parent

HOST = "127.0.0.1"


class ServiceError(RuntimeError):
    """A part of the loop did not start; the message says which and where its log is."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout_s: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise ServiceError(f"process for {url} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 (loopback)
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise ServiceError(f"{url} not ready after {timeout_s:.0f} s")


def _stop(proc: subprocess.Popen[bytes] | None, timeout_s: float = 10.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class _Managed:
    def start(self) -> _Managed:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class RedisServer(_Managed):
    """``redis-server`` on a free port with its own directory (append-only file there, so a
    resumed loop finds its streams again); or an existing Redis at ``url``."""

    def __init__(self, directory: Path, url: str | None = None) -> None:
        self.directory = directory
        self._url = url
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        if self._url is None:
            raise ServiceError("redis is not started")
        return self._url

    def start(self) -> RedisServer:
        if self._url is not None:
            return self
        binary = shutil.which("redis-server")
        if binary is None:
            raise ServiceError(
                "redis-server not found: install it (apt-get install redis-server) or pass "
                "--redis-url redis://HOST:PORT/DB of a Redis the loop may write to"
            )
        self.directory.mkdir(parents=True, exist_ok=True)
        port = free_port()
        log = open(self.directory / "redis.log", "ab")  # noqa: SIM115 (the child owns it)
        try:
            self._proc = subprocess.Popen(
                [binary, "--port", str(port), "--bind", HOST, "--dir", str(self.directory),
                 "--save", "", "--appendonly", "yes"],  # a resumed loop finds its streams
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, preexec_fn=die_with_parent,
            )
        finally:
            log.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((HOST, port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        self._url = f"redis://{HOST}:{port}/0"
                        return self
            except OSError:
                time.sleep(0.05)
        _stop(self._proc)
        raise ServiceError(f"redis-server did not answer on port {port}; see {self.directory}")

    def stop(self) -> None:
        if self._proc is not None:
            _stop(self._proc)
            self._proc = None
            self._url = None


class ThreadServer(_Managed):
    """An ASGI app under uvicorn in a daemon thread, on a socket bound here (port known at once)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.port = 0
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> ThreadServer:
        import uvicorn

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((HOST, 0))
        self.port = sock.getsockname()[1]
        self._sock = sock
        config = uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="off",
                                ws="none", timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise ServiceError("the replayed cloud did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(5)
        if self._sock is not None:
            self._sock.close()
        self._server = self._thread = self._sock = None


def replay_cloud(replays: Mapping[str, Any], model: str) -> ThreadServer:
    """The cloud: gpt-4o's recorded answers per BFCL id, in OpenAI's response shape."""
    from bench.common.cloud_replay import ReplayUpstream

    return ThreadServer(ReplayUpstream("cloud", replays, model=model, flavor="openai"))


class GatewayProcess(_Managed):
    """``netgpt serve`` in its own process with ``env`` (NETGPT_* settings) on a free port."""

    def __init__(self, env: Mapping[str, str], log_path: Path, ready_timeout_s: float = 60) -> None:
        self.env = dict(env)
        self.log_path = log_path
        self.ready_timeout_s = ready_timeout_s
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self) -> GatewayProcess:
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("NETGPT_")}
        env.update(self.env)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 (the child owns it)
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "gateway.cli", "serve", "--host", HOST,
                 "--port", str(self.port)],
                env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, preexec_fn=die_with_parent,
            )
        finally:
            log.close()
        try:
            wait_http(self.url + "/healthz", self.ready_timeout_s, self._proc)
        except ServiceError as exc:
            self.stop()
            raise ServiceError(f"the gateway did not start ({exc}); see {self.log_path}") from None
        return self

    def stop(self) -> None:
        _stop(self._proc)
        self._proc = None
