"""Processes of the load benchmark: start pinned to a core, wait until ready, freeze, measure.

Every server of the benchmark runs as its own process so the load generator, the upstream and
the server under test never share an interpreter. On this 2-core box the server under test gets
CPU 0 and everything else CPU 1 (``taskset``); servers not being measured are frozen with
SIGSTOP, so an idle LiteLLM or a second gateway cannot steal cycles from the one being measured.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def can_pin() -> bool:
    return shutil.which("taskset") is not None and (os.cpu_count() or 1) > 1


def pinned(cmd: Sequence[str], cpus: str | None) -> list[str]:
    """``cmd`` under ``taskset -c cpus`` where pinning is possible (``cpus`` None: unpinned)."""
    if cpus is None or not can_pin():
        return list(cmd)
    return ["taskset", "-c", cpus, *cmd]


@dataclass
class Server:
    """A started server process; ``log`` collects its stdout and stderr."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    frozen: bool = field(default=False)

    def pids(self) -> list[int]:
        """The process and its descendants (uvicorn workers, LiteLLM's children)."""
        out = [self.proc.pid]
        for pid in out:
            with contextlib.suppress(OSError):
                children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
                out.extend(int(c) for c in children)
        return out

    def signal(self, sig: int) -> None:
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    def freeze(self) -> None:
        if not self.frozen:
            self.signal(signal.SIGSTOP)
            self.frozen = True

    def thaw(self) -> None:
        if self.frozen:
            self.signal(signal.SIGCONT)
            self.frozen = False

    def rss_bytes(self) -> int:
        """Resident memory of the process and its descendants."""
        total = 0
        for pid in self.pids():
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
        return total

    def cpu_seconds(self) -> float:
        """User + system CPU time used so far by the process and its descendants."""
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0
        for pid in self.pids():
            with contextlib.suppress(OSError, IndexError, ValueError):
                # fields after the command name, which may hold spaces: utime is the 12th
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])
        return total / ticks

    def stop(self) -> None:
        self.thaw()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def tail(self, lines: int = 15) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""


def start(
    name: str,
    cmd: Sequence[str],
    *,
    cpus: str | None,
    logdir: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Server:
    log = logdir / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            pinned(cmd, cpus), env=dict(env) if env is not None else None, cwd=cwd,
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    return Server(name, proc, log)


def wait_ready(server: Server, url: str, timeout_s: float = 60.0) -> None:
    """Poll ``url`` until it answers below 500; raise with the server's log tail if it dies."""
    deadline = time.monotonic() + timeout_s
    while True:
        if server.proc.poll() is not None:
            raise RuntimeError(f"{server.name} exited ({server.proc.returncode}):\n{server.tail()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status < 500:
                    return
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{server.name} did not answer {url} in {timeout_s:.0f}s:\n{server.tail()}")
        time.sleep(0.2)


def post(
    url: str, body: bytes, timeout_s: float = 30.0, headers: Mapping[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One POST with a JSON body (and ``headers``): (status, lower-cased headers, body)."""
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"content-type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


@contextlib.contextmanager
def only_running(servers: Sequence[Server], active: Server | None) -> Iterator[None]:
    """Freeze every server but ``active`` (and those it needs, which are not in ``servers``)."""
    for server in servers:
        if server is not active:
            server.freeze()
    if active is not None:
        active.thaw()
    try:
        yield
    finally:
        for server in servers:
            server.thaw()
