"""SIGTERM to a real ``netgpt serve`` process under load, counted.

The gateway runs as operators run it (``python -m gateway.cli serve``), its cloud-routed
requests writing dataset records to its own ``redis-server``. Load: lanes of requests on
kept-alive connections, a newcomer opening a fresh connection every 100 ms, and a poller of
``/readyz`` every 50 ms, every outcome timestamped. After SIGTERM the counts are: answered (200),
refused (connection refused, or 503 from the grace deadline), closed before being read, and lost
— an answered request without its record in Redis or the spool, or a request the gateway
processed (its record exists) whose client got no answer. Used by
``tests/gateway/dataset/test_serve_sigterm.py`` and ``python -m tests.faults.report``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson

from gateway.dataset.readers import spool_records
from tests.conftest import chat_body
from tests.support.redis_server import RedisServer, free_port

KEY = "netgpt:pairs"


def start_gateway(
    port: int, env: dict[str, str], log: Path | None = None
) -> subprocess.Popen[bytes]:
    """``netgpt serve`` on ``port``; returns once /healthz answers."""
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - the child owns it
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT if log else subprocess.DEVNULL,
        )
    finally:
        if log:
            out.close()  # type: ignore[union-attr]
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"the gateway exited ({proc.returncode}); see {log}")
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("the gateway did not come up in 30 s")
        time.sleep(0.1)


def stream_ids(redis_server: RedisServer) -> list[str]:
    client = redis_server.client()
    try:
        return [orjson.loads(f[b"record"])["request_id"] for _, f in client.xrange(KEY)]
    finally:
        client.close()


def gateway_env(
    edge_url: str, cloud_url: str, redis_url: str, data_dir: Path, **extra: str
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NETGPT_")}
    env.update(
        NETGPT_EDGE_BASE_URL=edge_url,
        NETGPT_EDGE_MODEL="edge-small",
        NETGPT_CLOUD_BASE_URL=cloud_url,
        NETGPT_CLOUD_MODEL="cloud-large",
        NETGPT_CLOUD_API_KEY="sk-test-sigterm-key-0123456789",
        NETGPT_NETWORK_PROBES_ENABLED="false",
        NETGPT_REDIS_URL=redis_url,
        NETGPT_DATA_DIR=str(data_dir),
        NETGPT_LOG_LEVEL="warning",
    )
    env.update(extra)
    return env


class Load:
    """Lanes on kept-alive connections, a newcomer and a readiness poller."""

    def __init__(self, port: int, cloud_delay_s: float, lanes: int = 6) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.body = chat_body(
            x_fake={"edge": {"mode": "invalid_json"}, "cloud": {"delay_s": cloud_delay_s}}
        )
        self.stop = threading.Event()
        self.results: list[tuple[str, float, float, str]] = []  # (id, sent, done, outcome)
        self.ready: list[tuple[float, int | None]] = []
        self._threads = [threading.Thread(target=self._lane, args=(k,)) for k in range(lanes)]
        self._threads += [
            threading.Thread(target=self._newcomer),
            threading.Thread(target=self._readiness),
        ]

    def _one(self, http: httpx.Client, rid: str) -> str:
        sent = time.monotonic()
        try:
            resp = http.post("/v1/chat/completions", json=self.body, headers={"x-request-id": rid})
            outcome = str(resp.status_code)
        except httpx.ConnectError:
            outcome = "refused"
        except httpx.HTTPError as exc:
            outcome = f"no answer ({type(exc).__name__})"
        self.results.append((rid, sent, time.monotonic(), outcome))
        return outcome

    def outcome_count(self, outcome: str) -> list[tuple[str, float, float, str]]:
        return [r for r in list(self.results) if r[3] == outcome]

    def _lane(self, k: int) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as http:
            i = 0
            while not self.stop.is_set():
                if self._one(http, f"lane{k}-{i:05d}") == "refused":
                    time.sleep(0.05)
                i += 1

    def _newcomer(self) -> None:
        i = 0
        while not self.stop.is_set():
            with httpx.Client(base_url=self.url, timeout=30) as http:
                self._one(http, f"new-{i:05d}")
            i += 1
            time.sleep(0.1)

    def _readiness(self) -> None:
        while not self.stop.is_set():
            try:
                status: int | None = httpx.get(self.url + "/readyz", timeout=2).status_code
            except httpx.HTTPError:
                status = None
            self.ready.append((time.monotonic(), status))
            time.sleep(0.05)

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self._threads:
            t.join(30)


@dataclass
class ShutdownRun:
    drain_s: float
    grace_s: float
    cloud_delay_s: float
    exit_code: int
    exit_s: float  # SIGTERM to exit
    term: float
    results: list[tuple[str, float, float, str]]
    ready: list[tuple[float, int | None]]
    recorded: set[str] = field(default_factory=set)

    def outcome(self, kind: str) -> list[tuple[str, float, float, str]]:
        picks = {
            "answered": lambda o: o == "200",
            "refused": lambda o: o == "refused",
            "503": lambda o: o == "503",
            "no answer": lambda o: o.startswith("no answer"),
        }[kind]
        return [r for r in self.results if picks(r[3])]

    @property
    def in_flight(self) -> list[tuple[str, float, float, str]]:
        """Requests sent before SIGTERM that ended after it."""
        return [r for r in self.results if r[1] < self.term < r[2]]

    @property
    def lost(self) -> list[tuple[str, float, float, str]]:
        unanswered = [r for r in self.results if r[3] != "200" and r[0] in self.recorded]
        return [r for r in self.outcome("answered") if r[0] not in self.recorded] + unanswered

    @property
    def first_503_s(self) -> float | None:
        """SIGTERM to the first /readyz 503."""
        times = [at for at, status in self.ready if status == 503 and at >= self.term]
        return min(times) - self.term if times else None

    @property
    def first_refused_s(self) -> float | None:
        times = [r[1] for r in self.outcome("refused") if r[1] >= self.term]
        return min(times) - self.term if times else None

    @property
    def served_after_term(self) -> list[tuple[str, float, float, str]]:
        """Answered requests sent after SIGTERM (the drain window still serves)."""
        return [r for r in self.outcome("answered") if r[1] > self.term]

    def summary(self) -> str:
        return (
            f"drain {self.drain_s:g} s, grace {self.grace_s:g} s, cloud answers in {self.cloud_delay_s:g} s: "
            f"{len(self.outcome('answered'))} answered ({len(self.in_flight)} in flight at SIGTERM, "
            f"{len(self.served_after_term)} sent after SIGTERM), "
            f"{len(self.outcome('refused'))} refused, {len(self.outcome('503'))} × 503 shutting_down, "
            f"{len(self.outcome('no answer'))} closed before being read, {len(self.lost)} lost; "
            f"/readyz 503 {fmt_s(self.first_503_s)} after SIGTERM, first refusal {fmt_s(self.first_refused_s)}, "
            f"exit {self.exit_s:.1f} s"
        )


def fmt_s(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def gateway_in_flight(port: int) -> float:
    """``netgpt_requests_in_flight`` from the gateway's /metrics (0 when it does not answer)."""
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    except httpx.HTTPError:
        return 0.0
    for line in text.splitlines():
        if line.startswith("netgpt_requests_in_flight "):
            return float(line.split()[1])
    return 0.0


def run_under_load(
    edge_url: str,
    cloud_url: str,
    workdir: Path,
    *,
    drain_s: float,
    grace_s: float,
    cloud_delay_s: float,
    lanes: int = 6,
    min_answered: int = 10,
    min_in_flight: int = 3,
) -> ShutdownRun:
    """Start ``netgpt serve`` (and its redis-server), load it, SIGTERM it, count."""
    redis_server = RedisServer(workdir / "redis").start()
    data_dir = workdir / "var"
    port = free_port()
    env = gateway_env(
        edge_url,
        cloud_url,
        redis_server.url,
        data_dir,
        NETGPT_SHUTDOWN_DRAIN_S=str(drain_s),
        NETGPT_SHUTDOWN_GRACE_S=str(grace_s),
        NETGPT_CLOUD_READ_TIMEOUT_S="30",
    )
    gateway = start_gateway(port, env, workdir / "gateway.log")
    try:
        with Load(port, cloud_delay_s, lanes) as load:
            # SIGTERM once the load is really on: answers came back and the gateway itself has
            # requests in flight (on a busy shared machine that takes a variable time)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not (
                len(load.outcome_count("200")) >= min_answered
                and gateway_in_flight(port) >= min_in_flight
            ):
                time.sleep(0.1)
            term = time.monotonic()
            gateway.send_signal(signal.SIGTERM)
            code = gateway.wait(60)
            exited = time.monotonic()
            time.sleep(0.5)  # a few refusals after the exit
        recorded = set(stream_ids(redis_server)) | {
            r["request_id"] for r in spool_records(data_dir)
        }
    finally:
        if gateway.poll() is None:
            gateway.kill()
        redis_server.stop()
    return ShutdownRun(
        drain_s,
        grace_s,
        cloud_delay_s,
        code,
        exited - term,
        term,
        load.results,
        load.ready,
        recorded,
    )
