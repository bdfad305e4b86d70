"""The canned upstream: nginx answering fixed chat completions, so it is never the bottleneck.

The answers are the project's fake upstream's (``bench.fakes``) to the benchmark request,
captured once at start: a vLLM-shaped edge answer with log-probabilities (valid tool call), the
same with a tool name that was not offered (schema-invalid, so the gateway falls back), and an
OpenAI-shaped cloud answer. nginx then serves those bytes as files on ``/edge/v1``,
``/invalid/v1`` and ``/cloud/v1``: one worker answers tens of thousands of requests a second on
one core, well above any Python server here.

Without nginx (``--upstream fake``) the fakes themselves serve, which caps every target at the
fake's own rate (about 3,000 answers/s on a core).
"""

from __future__ import annotations

import shutil
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import orjson

from bench.common import procs
from bench.common.bodies import request_body

ROUTES = ("edge", "invalid", "cloud")
MODELS_JSON = b'{"object":"list","data":[{"id":"edge","object":"model","owned_by":"bench"}]}'


@dataclass(frozen=True)
class Canned:
    edge: bytes
    invalid: bytes
    cloud: bytes
    metrics: bytes = b""  # the fake vLLM's /metrics page (load gauges an experts file scrapes)

    def body(self, route: str) -> bytes:
        return {"edge": self.edge, "invalid": self.invalid, "cloud": self.cloud}[route]


@dataclass
class Upstream:
    """Where the upstreams answer: base URLs (ending in ``/v1``) per route."""

    port: int
    servers: list[procs.Server]
    per_route_port: dict[str, int]

    def base_url(self, route: str) -> str:
        port = self.per_route_port.get(route, self.port)
        prefix = f"/{route}" if route not in self.per_route_port else ""
        return f"http://127.0.0.1:{port}{prefix}/v1"

    def chat_path(self, route: str) -> tuple[int, str]:
        """(port, path) of ``route``'s chat completions endpoint, for the load generators."""
        url = self.base_url(route).split("127.0.0.1:", 1)[1]
        port, _, path = url.partition("/")
        return int(port), f"/{path}/chat/completions"

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


def edge_request() -> bytes:
    """The body the gateway's edge client sends for the benchmark request."""
    body = request_body("edge")
    body.update(logprobs=True, top_logprobs=1, stream=False)
    return orjson.dumps(body)


def _fake(name: str, flavor: str, port: int, logdir: Path, cpus: str | None, mode: str = "tool_call") -> procs.Server:
    cmd = [
        sys.executable, "-m", "bench.fakes", "--port", str(port), "--name", name,
        "--model", name, "--flavor", flavor, "--mode", mode, "--no-record",
    ]
    return procs.start(f"fake-{name}-{mode}", cmd, cpus=cpus, logdir=logdir)


def capture(logdir: Path) -> Canned:
    """Ask the fake upstreams once for each canned answer."""
    edge_port, cloud_port = procs.free_port(), procs.free_port()
    servers = [_fake("edge", "vllm", edge_port, logdir, None), _fake("cloud", "openai", cloud_port, logdir, None)]
    try:
        for server, port in zip(servers, (edge_port, cloud_port), strict=True):
            procs.wait_ready(server, f"http://127.0.0.1:{port}/health")
        url = "http://127.0.0.1:{}/v1/chat/completions"
        invalid = orjson.loads(edge_request()) | {"x_fake": {"edge": {"mode": "invalid_name"}}}
        cloud_body = orjson.dumps(request_body("cloud"))
        answers = []
        for port, body in ((edge_port, edge_request()), (edge_port, orjson.dumps(invalid)), (cloud_port, cloud_body)):
            status, _, raw = procs.post(url.format(port), body)
            if status != 200:
                raise RuntimeError(f"the fake upstream answered {status}: {raw[:200]!r}")
            answers.append(orjson.dumps(orjson.loads(raw)))  # compact, as a real server sends
        with urllib.request.urlopen(f"http://127.0.0.1:{edge_port}/metrics", timeout=10) as resp:
            answers.append(resp.read())
    finally:
        for server in servers:
            server.stop()
    return Canned(*answers)


def nginx_config(port: int, canned: Canned, rundir: Path) -> str:
    # nginx's static module refuses POST and a return string is capped at 4 KB, so a POST gets
    # 405 and error_page turns that into an internal GET of the canned file (sendfile, no copy)
    static = rundir / "canned"
    static.mkdir(exist_ok=True)
    for route in ROUTES:
        (static / f"{route}.json").write_bytes(canned.body(route))
    (static / "models.json").write_bytes(MODELS_JSON)
    (static / "metrics.txt").write_bytes(canned.metrics)
    locations = "\n".join(
        f"        location = /{route}/v1/chat/completions {{ error_page 405 =200 /canned/{route}.json; return 405; }}"
        for route in ROUTES
    )
    temp = " ".join(f"{kind}_temp_path {rundir}/nginx-{kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return f"""# written by bench/load/upstream.py
worker_processes 1;
master_process off;
daemon off;
pid {rundir}/nginx.pid;
error_log {rundir}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    {temp}
    default_type application/json;
    keepalive_requests 100000000;
    keepalive_timeout 600s;
    client_body_buffer_size 64k;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
{locations}
        location ~ ^/(edge|invalid|cloud)/v1/models$ {{ error_page 405 =200 /canned/models.json; return 405; }}
        location ~ ^/(edge|invalid|cloud)/metrics$ {{ rewrite ^ /canned/metrics.txt last; }}
        location /canned/ {{ internal; alias {static}/; }}
        location = /health {{ return 200 'ok'; }}
    }}
}}
"""


def start_nginx(canned: Canned, rundir: Path, cpus: str | None) -> Upstream:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        raise RuntimeError("nginx not found: apt-get install -y nginx-light (or use --upstream fake)")
    port = procs.free_port()
    conf = rundir / "nginx.conf"
    conf.write_text(nginx_config(port, canned, rundir))
    server = procs.start("nginx", [nginx, "-c", str(conf), "-p", str(rundir)], cpus=cpus, logdir=rundir)
    procs.wait_ready(server, f"http://127.0.0.1:{port}/health", timeout_s=10)
    upstream = Upstream(port, [server], {})
    for route in ROUTES:
        served_port, path = upstream.chat_path(route)
        _, _, got = procs.post(f"http://127.0.0.1:{served_port}{path}", b"{}")
        if got != canned.body(route):
            raise RuntimeError(f"nginx does not return the canned {route} answer byte for byte")
    return upstream


def start_fakes(rundir: Path, cpus: str | None) -> Upstream:
    ports = {route: procs.free_port() for route in ROUTES}
    servers = [
        _fake("edge", "vllm", ports["edge"], rundir, cpus),
        _fake("edge", "vllm", ports["invalid"], rundir, cpus, mode="invalid_name"),
        _fake("cloud", "openai", ports["cloud"], rundir, cpus),
    ]
    for server, port in zip(servers, ports.values(), strict=True):
        procs.wait_ready(server, f"http://127.0.0.1:{port}/health")
    return Upstream(ports["edge"], servers, ports)
