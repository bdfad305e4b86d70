"""The rig of the fault suite: real servers on loopback with a fault proxy in every link.

    client ── gateway (uvicorn, lifespan on) ──▶ FaultProxy ──▶ fake edge   (vLLM shapes)
                                              ──▶ FaultProxy ──▶ fake cloud  (OpenAI shapes)
                                              ──▶ FaultProxy ──▶ redis-server (own port, AOF)

The fakes stand in for the LLMs (the fault suite needs answers on demand); everything between
them and the client is real. Each scenario gets a fresh gateway (clean pools, metrics, logs) and
its own request-id prefix; when it ends the gateway is stopped (the dataset queue is flushed) and
every cloud-answered request id is looked up in the Redis stream and the spool.
"""

from __future__ import annotations

import contextlib
import json
import logging
import statistics
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.fakes import FakeUpstream
from gateway.app import create_gateway
from gateway.config import Settings
from gateway.dataset.readers import spool_records
from gateway.server.header_deadline import client_deadline
from tests.conftest import CLOUD_KEY, chat_body
from tests.faults.proxy import FaultProxy
from tests.support.redis_server import RedisServer
from tests.support.server import ServerThread

STREAM_KEY = "netgpt:pairs"


# ---------------------------------------------------------------------- what a client saw
@dataclass
class Reply:
    rid: str
    status: int | None  # None: no HTTP answer (connection closed or timed out)
    shape: str
    elapsed_s: float
    route: str | None = None
    reason: str | None = None
    code: str | None = None  # error code of an envelope or error event
    started: float = 0.0  # time.monotonic() when it was sent
    retry_after: str | None = None

    @property
    def complete_cloud(self) -> bool:
        return (
            self.status == 200
            and self.route == "cloud"
            and self.shape in ("completion", "sse complete")
        )


def _shape_json(raw: bytes) -> tuple[str, str | None]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return "not JSON", None
    if isinstance(body, dict) and isinstance(body.get("choices"), list) and body["choices"]:
        return "completion", None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and set(error) >= {"message", "type", "param", "code"}:
        return "error envelope", error.get("code")
    return "other JSON", None


def _shape_sse(raw: bytes) -> tuple[str, str | None]:
    events = [e[len(b"data: ") :] for e in raw.split(b"\n\n") if e.startswith(b"data: ")]
    done = bool(events) and events[-1] == b"[DONE]"
    errors = [orjson.loads(e)["error"] for e in events if e != b"[DONE]" and b'"error"' in e[:12]]
    if errors:
        return ("sse error event, then [DONE]" if done else "sse error event, no [DONE]"), errors[
            0
        ].get("code")
    return ("sse complete" if done else "sse truncated, no [DONE]"), None


def call(base_url: str, body: dict[str, Any], rid: str, timeout_s: float = 30.0) -> Reply:
    """One chat request over a fresh connection; what came back, classified."""
    started = time.monotonic()
    try:
        with httpx.Client(base_url=base_url, timeout=timeout_s) as http:
            resp = http.post("/v1/chat/completions", json=body, headers={"x-request-id": rid})
    except httpx.HTTPError as exc:
        return Reply(
            rid,
            None,
            f"no answer ({type(exc).__name__})",
            time.monotonic() - started,
            started=started,
        )
    elapsed = time.monotonic() - started
    if resp.headers.get("content-type", "").startswith("text/event-stream"):
        shape, code = _shape_sse(resp.content)
    else:
        shape, code = _shape_json(resp.content)
    return Reply(
        rid,
        resp.status_code,
        shape,
        elapsed,
        resp.headers.get("x-netgpt-route"),
        resp.headers.get("x-netgpt-reason"),
        code,
        started,
        resp.headers.get("retry-after"),
    )


def call_many(
    base_url: str, bodies: list[dict[str, Any]], prefix: str, concurrency: int = 8
) -> list[Reply]:
    with ThreadPoolExecutor(concurrency) as pool:
        futures = [
            pool.submit(call, base_url, b, f"{prefix}-{i:04d}") for i, b in enumerate(bodies)
        ]
        return [f.result() for f in futures]


# ---------------------------------------------------------------------- what was logged
class LogCapture(logging.Handler):
    """Keeps the gateway's log records (loggers netgpt.*, gateway.*, uvicorn.error)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self._lock2 = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(("netgpt", "gateway", "uvicorn.error")):
            with self._lock2:
                self.records.append(record)

    def summary(self, limit: int = 4) -> list[str]:
        """Warnings and errors grouped by message template, most frequent first."""
        counts: Counter[str] = Counter()
        for r in self.records:
            if r.levelno >= logging.WARNING:
                text = str(r.msg)
                counts[f"{r.levelname} {r.name}: {text}"] += 1
        return [f"{n}× {text}" for text, n in counts.most_common(limit)]

    def errors(self) -> list[str]:
        return [
            f"{r.name}: {r.getMessage()[:200]} {getattr(r, 'error', '')}".strip()
            for r in self.records
            if r.levelno >= logging.ERROR
        ]

    def statuses(self) -> Counter[str]:
        """route/reason/status of the per-request 'chat completion' lines."""
        return Counter(
            f"{getattr(r, 'route', '?')}/{getattr(r, 'reason', '?')}/{getattr(r, 'status', '?')}"
            for r in self.records
            if r.msg == "chat completion"
        )


@contextlib.contextmanager
def captured_logs() -> Iterator[LogCapture]:
    handler = LogCapture()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


# ---------------------------------------------------------------------- the outcome of a scenario
@dataclass
class Outcome:
    name: str
    fault: str
    replies: list[Reply] = field(default_factory=list)
    logged: list[str] = field(default_factory=list)
    log_statuses: Counter[str] = field(default_factory=Counter)
    recorded: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    checks: list[tuple[str, bool]] = field(default_factory=list)

    @property
    def answered_cloud(self) -> set[str]:
        return {r.rid for r in self.replies if r.complete_cloud}

    @property
    def lost(self) -> set[str]:
        return self.answered_cloud - self.recorded

    def saw(self) -> str:
        """'N× status shape' groups, most frequent first."""
        groups = Counter(
            f"{r.status if r.status is not None else '-'} {r.shape}" for r in self.replies
        )
        return "; ".join(f"{n}× {k}" for k, n in groups.most_common())

    def times(self) -> str:
        if not self.replies:
            return "-"
        values = [r.elapsed_s for r in self.replies]
        return f"p50 {statistics.median(values):.2f} s, max {max(values):.2f} s"

    def check(self, text: str, ok: bool) -> None:
        self.checks.append((text, bool(ok)))

    @property
    def failed(self) -> list[str]:
        return [text for text, ok in self.checks if not ok]


# ---------------------------------------------------------------------- the rig
def _host_port(url: str) -> tuple[str, int]:
    hostport = url.split("://", 1)[1].split("/", 1)[0]
    host, port = hostport.rsplit(":", 1)
    return host, int(port)


class Rig:
    """Fakes, redis-server and proxies, started once; ``gateway()`` starts a fresh gateway."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.edge_fake = FakeUpstream(name="edge", model="edge-small", flavor="vllm")
        self.cloud_fake = FakeUpstream(name="cloud", model="cloud-large", flavor="openai")
        self._edge_server = ServerThread(self.edge_fake)
        self._cloud_server = ServerThread(self.cloud_fake)
        self.redis = RedisServer(workdir / "redis")
        self.edge_proxy: FaultProxy | None = None
        self.cloud_proxy: FaultProxy | None = None
        self.redis_proxy: FaultProxy | None = None
        self._count = 0
        # the real llama-server (edge_worker.llamacpp.server.LlamaServer) when one is given
        self.real_edge: Any | None = None

    def start(self) -> Rig:
        self._edge_server.start()
        self._cloud_server.start()
        self.redis.start()
        self.edge_proxy = FaultProxy(_host_port(self._edge_server.url)).start()
        self.cloud_proxy = FaultProxy(_host_port(self._cloud_server.url)).start()
        self.redis_proxy = FaultProxy(("127.0.0.1", self.redis.port)).start()
        return self

    def stop(self) -> None:
        for proxy in (self.edge_proxy, self.cloud_proxy, self.redis_proxy):
            if proxy is not None:
                proxy.stop()
        self.redis.stop()
        self._cloud_server.stop()
        self._edge_server.stop()

    def __enter__(self) -> Rig:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def fake_urls(self) -> tuple[str, str]:
        """Base URLs (``/v1``) of the fake edge and cloud, without a proxy."""
        return self._edge_server.url + "/v1", self._cloud_server.url + "/v1"

    def clean(self) -> None:
        """Every proxy a clean pass-through, the fakes back to their defaults."""
        for proxy in (self.edge_proxy, self.cloud_proxy, self.redis_proxy):
            assert proxy is not None
            proxy.set()
        self.edge_fake.reset()
        self.cloud_fake.reset()

    def settings(self, data_dir: Path, **overrides: Any) -> Settings:
        assert self.edge_proxy and self.cloud_proxy and self.redis_proxy
        sections: dict[str, dict[str, Any]] = {
            "edge": {
                "base_url": self.edge_proxy.url + "/v1",
                "model": "edge-small",
                "timeout_s": 1.0,
                "connect_timeout_s": 0.5,
            },
            "cloud": {
                "base_url": self.cloud_proxy.url + "/v1",
                "model": "cloud-large",
                "api_key": CLOUD_KEY,
                "read_timeout_s": 1.0,
                "connect_timeout_s": 0.5,
                "max_retries": 1,
                "backoff_base_s": 0.05,
                "backoff_max_s": 1.0,
            },
            "network": {"probes_enabled": False},
            "dataset": {"reconnect_max_s": 0.2},
        }
        for name in list(overrides):
            if name in sections:
                sections[name].update(overrides.pop(name))
        top: dict[str, Any] = {
            "data_dir": data_dir,
            "log_requests": True,
            "log_level": "info",
            "redis_url": f"redis://127.0.0.1:{self.redis_proxy.port}/0",
        }
        top.update(overrides)
        return Settings(**sections, **top)

    @contextlib.contextmanager
    def gateway(self, outcome: Outcome, **overrides: Any) -> Iterator[ServerThread]:
        """A fresh gateway for one scenario; on exit it is stopped (queue flushed), the logs
        summarised and the scenario's records collected from Redis and the spool."""
        self._count += 1
        data_dir = self.workdir / f"gw-{self._count}"
        settings = self.settings(data_dir, **overrides)
        with captured_logs() as logs:
            server = gateway_server(settings).start()
            try:
                yield server
            finally:
                server.stop()
        outcome.logged = logs.summary()
        outcome.check(
            "nothing logged at ERROR (background tasks and the shutdown survived)",
            not logs.errors(),
        )
        outcome.errors = logs.errors()
        outcome.log_statuses = logs.statuses()
        outcome.recorded = self.recorded_ids(data_dir)

    def recorded_ids(self, data_dir: Path) -> set[str]:
        ids = {r["request_id"] for r in spool_records(data_dir)}
        with contextlib.suppress(Exception):  # Redis may be down at the end of a scenario
            client = self.redis.client()
            try:
                ids |= {
                    orjson.loads(f[b"record"])["request_id"] for _, f in client.xrange(STREAM_KEY)
                }
            finally:
                client.close()
        return ids


def gateway_server(settings: Settings) -> ServerThread:
    """The gateway as ``netgpt serve`` runs it (fast lane, header deadline, grace period), in a
    thread: SIGTERM handling is tested on a real process (tests/gateway/test_shutdown.py)."""
    return ServerThread(
        create_gateway(settings, tune_gc=False),
        lifespan="on",
        http=client_deadline(settings),
        timeout_graceful_shutdown=settings.shutdown_grace_s,
    )


def body(
    *,
    stream: bool = False,
    model: str = "auto",
    edge: dict[str, Any] | None = None,
    cloud: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The suite's request: one user turn, two tools; ``edge``/``cloud`` steer the fakes."""
    steer = {k: v for k, v in (("edge", edge), ("cloud", cloud)) if v}
    extra: dict[str, Any] = {"model": model}
    if stream:
        extra["stream"] = True
    if steer:
        extra["x_fake"] = steer
    return chat_body(**extra)


def dumps(outcome: Outcome) -> str:
    return json.dumps(
        {
            "name": outcome.name,
            "saw": outcome.saw(),
            "times": outcome.times(),
            "logged": outcome.logged,
            "lost": sorted(outcome.lost),
        },
        indent=1,
    )
