"""A local model server as a child process: started in its own process group on a loopback
port, healthy when ``GET /health`` answers 200, stopped with its whole group (an engine's
children too). ``LlamaServer`` and ``VllmServer`` are this with their own command.

    class MyServer(ServerProcess):
        label = "my-server"
        def command(self) -> list[str]: ...
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any, Self


def _load_prctl() -> Any:
    try:
        return ctypes.CDLL("libc.so.6", use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _load_prctl()  # resolved here: the child of a fork must not import or load libraries


def die_with_parent() -> None:
    """``preexec_fn`` for a child that must not outlive its parent: SIGTERM when the parent
    dies, however it dies (Linux; a no-op elsewhere), so a killed command leaves no training
    run or server behind."""
    if _PRCTL is not None:
        _PRCTL(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class ServerStartError(RuntimeError):
    """The server exited or did not become healthy in time; the message has its log tail."""


class ServerProcess:
    """The lifecycle every local model server shares; subclasses give ``command()`` and,
    when they need one, ``env()``. ``kill()``/``start()`` let fault tests take it down and
    bring it back on the same port. A context manager."""

    label = "server"  # in error messages
    poll_s = 0.1  # between health checks while starting
    stop_timeout_s = 10.0  # SIGTERM, then SIGKILL after this

    def __init__(self, *, port: int | None, log_path: Path | None, ready_timeout_s: float) -> None:
        from edge_worker.llamacpp.paths import cache_root

        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.log_path = log_path or (cache_root() / "logs" / f"{self.label}-{self.port}.log")
        self.ready_timeout_s = ready_timeout_s
        self._proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str] | None:
        """The child's environment (None: this process's)."""
        return None

    @property
    def root_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The OpenAI base URL (ends in /v1)."""
        return self.root_url + "/v1"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self) -> Self:
        if self.running():
            return self
        cmd = self.command()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child for its lifetime
        try:
            self._proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=self.env(), start_new_session=True,
            )
        finally:
            log.close()
        self.wait_ready()
        return self

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout_s
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                code = self._proc.returncode
                self._signal_group(signal.SIGKILL)
                raise ServerStartError(f"{self.label} exited with {code}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.root_url + "/health", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(self.poll_s)
        self.stop()
        raise ServerStartError(
            f"{self.label} not healthy after {self.ready_timeout_s:.0f} s:\n{self.log_tail()}"
        )

    def stop(self, timeout_s: float | None = None) -> None:
        """SIGTERM to the server's process group, then SIGKILL after TIMEOUT_S."""
        if self._proc is None:
            return
        self._signal_group(signal.SIGTERM)
        try:
            self._proc.wait(self.stop_timeout_s if timeout_s is None else timeout_s)
        except subprocess.TimeoutExpired:
            pass
        self._signal_group(signal.SIGKILL)  # an engine's children too, whatever the parent did
        self._reap()

    def kill(self) -> None:
        """SIGKILL to the whole group at once (a crash, for fault tests)."""
        if self._proc is None:
            return
        self._signal_group(signal.SIGKILL)
        self._reap()

    def _signal_group(self, sig: int) -> None:
        if self._proc is None:
            return
        try:
            os.killpg(self._proc.pid, sig)  # start_new_session: the group id is the pid
        except ProcessLookupError:
            pass

    def _reap(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.wait()
        # children are in the same group; wait until the group is gone (its memory freed)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _group_alive(proc.pid):
            time.sleep(0.1)

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
