"""The end-to-end checks of scripts/compose-check, run against the compose stack it brought up.

Standard library only (it runs with the box's python3). Every request goes to the gateway
container's published port on 127.0.0.1; Redis is read inside its container (redis-cli);
Prometheus through its published port. Compose operations (stop, restart, down, up) use the
command, project and env file that scripts/compose-check exports.

    python3 checks.py --gateway URL --prometheus URL wait-healthy SERVICE...
    python3 checks.py ... traffic | restarts | volume SERVICE... | hostedge
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
STREAM = "netgpt:pairs"
TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Current weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}]
MESSAGES = [{"role": "user", "content": "What is the weather in Oslo?"}]


def say(text: str) -> None:
    print(f"  {text}", flush=True)  # noqa: T201 - a check's progress line


class CheckFailed(Exception):
    pass


def expect(ok: bool, what: str) -> None:
    if not ok:
        raise CheckFailed(what)
    say(f"ok: {what}")


# ---------------------------------------------------------------- docker / compose
def compose(*args: str, check: bool = True, capture: bool = True) -> str:
    cmd = os.environ.get("NETGPT_COMPOSE_CHECK_CMD", "docker-compose").split()
    cmd += ["--project-directory", str(ROOT), "-p", os.environ["NETGPT_COMPOSE_CHECK_PROJECT"],
            "--env-file", os.environ["NETGPT_COMPOSE_CHECK_ENV_FILE"],
            "-f", str(ROOT / "docker-compose.yml"),
            "-f", str(ROOT / "deploy/compose-check/compose.check.yml"), *args]
    out = subprocess.run(cmd, capture_output=capture, text=True, check=False, timeout=300)
    if check and out.returncode != 0:
        raise CheckFailed(f"{' '.join(args)} failed: {(out.stderr or '')[-1500:]}")
    return out.stdout or ""


def docker(*args: str) -> str:
    docker_bin = "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else "docker"
    out = subprocess.run([docker_bin, *args], capture_output=True, text=True, check=False,
                         timeout=120)
    if out.returncode != 0:
        raise CheckFailed(f"docker {' '.join(args[:2])} failed: {out.stderr[-800:]}")
    return out.stdout


def container(service: str) -> str:
    cid = compose("ps", "-q", service).strip()
    if not cid:
        raise CheckFailed(f"service {service} has no container")
    return cid.splitlines()[0]


def health(service: str) -> str:
    state = json.loads(docker("inspect", "--format", "{{json .State}}", container(service)))
    if state.get("Health"):
        return str(state["Health"]["Status"])
    return "running" if state.get("Running") else str(state.get("Status"))


def wait_healthy(services: list[str], timeout_s: float = 300.0) -> None:
    started = time.monotonic()
    pending = set(services)
    while pending and time.monotonic() - started < timeout_s:
        for service in sorted(pending):
            status = health(service)
            if status in ("healthy", "running"):
                say(f"ok: {service} {status} after {time.monotonic() - started:.0f} s")
                pending.discard(service)
            elif status == "unhealthy":
                logs = compose("logs", "--tail", "30", service, check=False)
                raise CheckFailed(f"{service} is unhealthy:\n{logs}")
        time.sleep(1)
    if pending:
        logs = "".join(compose("logs", "--tail", "30", s, check=False) for s in pending)
        raise CheckFailed(f"not healthy after {timeout_s:.0f} s: {sorted(pending)}\n{logs}")


def redis(*args: str) -> str:
    return docker("exec", container("redis"), "redis-cli", "--raw", *args)


def stream_ids() -> set[str]:
    """Request ids of the dataset records in the Redis container's stream."""
    ids: set[str] = set()
    for line in redis("XRANGE", STREAM, "-", "+").splitlines():
        if line.startswith("{"):
            try:
                ids.add(str(json.loads(line).get("request_id")))
            except ValueError:
                continue
    return ids


# ---------------------------------------------------------------- HTTP
class Http:
    def __init__(self, gateway: str, prometheus: str) -> None:
        self.gateway, self.prometheus = gateway.rstrip("/"), prometheus.rstrip("/")

    def chat(self, model: str, *, fake: dict[str, Any] | None = None,
             timeout_s: float = 60.0) -> tuple[int, dict[str, str], dict[str, Any], str]:
        rid = "cc-" + uuid.uuid4().hex[:16]
        body: dict[str, Any] = {"model": model, "messages": MESSAGES, "tools": TOOLS,
                                "max_tokens": 64}
        if fake:
            body["x_fake"] = fake
        req = urllib.request.Request(
            f"{self.gateway}/v1/chat/completions", data=json.dumps(body).encode(),
            headers={"content-type": "application/json", "x-request-id": rid}, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=timeout_s) as resp:
                return resp.status, dict(resp.headers.items()), json.loads(resp.read()), rid
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers.items()), json.loads(exc.read() or b"{}"), rid

    def get(self, url: str, timeout_s: float = 5.0) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(url, timeout=timeout_s) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()
        except (OSError, urllib.error.URLError):
            return 0, b""

    def wait_ready(self, timeout_s: float = 90.0) -> float:
        started = time.monotonic()
        while time.monotonic() - started < timeout_s:
            if self.get(f"{self.gateway}/readyz")[0] == 200:
                return time.monotonic() - started
            time.sleep(0.5)
        raise CheckFailed(f"the gateway was not ready within {timeout_s:.0f} s")


def wait_for(what: str, probe: Callable[[], bool], timeout_s: float) -> None:
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if probe():
            say(f"ok: {what} ({time.monotonic() - started:.0f} s)")
            return
        time.sleep(1)
    raise CheckFailed(f"{what}: not within {timeout_s:.0f} s")


# ---------------------------------------------------------------- checks
def check_edge_answers(http: Http) -> None:
    """A tool call answered by the real edge container through the gateway container."""
    status, headers, body, _rid = http.chat("edge")
    h = {k.lower(): v for k, v in headers.items()}
    expect(status == 200 and h.get("x-netgpt-route") == "edge",
           f"model=edge: 200 from the edge (got {status} route={h.get('x-netgpt-route')} "
           f"{json.dumps(body)[:300] if status != 200 else ''})")
    expect(h.get("x-netgpt-expert") is not None and bool(body.get("choices")),
           f"the edge expert {h.get('x-netgpt-expert')} drafted the answer ({body.get('model')})")
    status, headers, body, _rid = http.chat("auto")
    h = {k.lower(): v for k, v in headers.items()}
    score = h.get("x-netgpt-score", "")
    expect(status == 200 and _is_number(score) and "x-netgpt-threshold" in h,
           f"model=auto: 200, x-netgpt-score={score} x-netgpt-threshold={h.get('x-netgpt-threshold')} "
           f"route={h.get('x-netgpt-route')} reason={h.get('x-netgpt-reason')}")
    expect(h.get("x-netgpt-expert") is not None, "the edge drafted it (x-netgpt-expert set)")
    calls = body["choices"][0]["message"].get("tool_calls") or []
    expect(bool(calls) and calls[0]["function"]["name"] == "get_weather",
           "the answer is a get_weather tool call")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def check_fallback(http: Http) -> str:
    """The edge container stopped: the gateway answers from the fake cloud container."""
    compose("stop", "edge-cpu")
    try:
        status, headers, body, rid = http.chat("auto")
        h = {k.lower(): v for k, v in headers.items()}
        expect(status == 200 and h.get("x-netgpt-route") == "cloud"
               and h.get("x-netgpt-reason") == "edge_unavailable",
               f"edge stopped: 200 from the cloud, reason {h.get('x-netgpt-reason')}")
        expect(body.get("model") == "gpt-4o-mini", "the answer is the fake cloud's")
    finally:
        compose("start", "edge-cpu")
    wait_healthy(["edge-cpu"])
    return rid


def check_prometheus(http: Http) -> None:
    def targets_up() -> bool:
        status, raw = http.get(f"{http.prometheus}/api/v1/targets")
        if status != 200:
            return False
        active = json.loads(raw)["data"]["activeTargets"]
        up = {t["labels"]["job"] for t in active if t["health"] == "up"}
        return {"netgpt-gateway", "llamacpp"} <= up
    wait_for("Prometheus scrapes the gateway and llama-server (targets up)", targets_up, 120)

    def has_series(query: str) -> Callable[[], bool]:
        def probe() -> bool:
            url = f"{http.prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": query})
            status, raw = http.get(url)
            return status == 200 and bool(json.loads(raw)["data"]["result"])
        return probe
    wait_for("netgpt_requests_total scraped from the gateway",
             has_series('netgpt_requests_total{job="netgpt-gateway"}'), 60)
    wait_for("llama.cpp's metrics scraped from the edge",
             has_series('{job="llamacpp", __name__=~"llamacpp:.*"}'), 60)


def check_record(rid: str) -> None:
    wait_for(f"the dataset record of {rid} is in the Redis container's stream",
             lambda: rid in stream_ids(), 30)


def traffic(http: Http) -> None:
    expect(http.get(f"{http.gateway}/healthz")[0] == 200, "GET /healthz 200")
    expect(http.get(f"{http.gateway}/readyz")[0] == 200, "GET /readyz 200")
    check_edge_answers(http)
    check_prometheus(http)
    rid = check_fallback(http)
    check_record(rid)


class Load:
    """Worker threads sending cloud requests (the fake cloud answers after ``delay_s``)."""

    def __init__(self, http: Http, workers: int, delay_s: float) -> None:
        self.http, self.delay_s = http, delay_s
        self.stop = threading.Event()
        self.lock = threading.Lock()
        # (started, finished, request id, outcome): outcome 200, another status or an error name
        self.done: list[tuple[float, float, str, str]] = []
        self.threads = [threading.Thread(target=self._run) for _ in range(workers)]

    def _run(self) -> None:
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                status, _h, _b, rid = self.http.chat("cloud", fake={"cloud": {"delay_s": self.delay_s}})
                outcome = str(status)
            except OSError as exc:  # refused or reset while the gateway restarts
                rid, outcome = "", type(exc).__name__
                time.sleep(0.2)
            with self.lock:
                self.done.append((started, time.monotonic(), rid, outcome))

    def around(self, action: Callable[[], None], before_s: float, after_s: float) -> float:
        """Runs ACTION with requests in flight; returns when the action started."""
        for t in self.threads:
            t.start()
        time.sleep(before_s)
        began = time.monotonic()
        action()
        time.sleep(after_s)
        self.stop.set()
        for t in self.threads:
            t.join(timeout=90)
        return began

    def answered(self) -> list[str]:
        return [rid for _s, _f, rid, outcome in self.done if outcome == "200"]


def restarts(http: Http) -> None:
    before = len(stream_ids())
    load = Load(http, workers=6, delay_s=1.0)
    load.around(lambda: compose("restart", "redis"), before_s=2.5, after_s=3.0)
    failed = [outcome for *_x, outcome in load.done if outcome != "200"]
    expect(len(load.answered()) >= 6 and not failed,
           f"restart redis under load: all {len(load.answered())} requests answered "
           f"({len(failed)} failed {failed[:5]})")
    wait_healthy(["redis"])
    wait_for(f"all {len(load.answered())} records in Redis after its restart (spool replayed)",
             lambda: set(load.answered()) <= stream_ids(), 90)

    load = Load(http, workers=6, delay_s=3.0)
    began = load.around(lambda: compose("restart", "gateway"), before_s=1.5, after_s=0.5)
    in_flight = [(rid, outcome) for started, finished, rid, outcome in load.done
                 if started < began < finished]
    lost = [outcome for _rid, outcome in in_flight if outcome != "200"]
    refused = [o for s, _f, _r, o in load.done if s >= began and o != "200"]
    # requests in flight at SIGTERM finish (drain + grace); new connections while it is down fail
    expect(len(in_flight) >= 6 and not lost,
           f"restart gateway: all {len(in_flight)} requests in flight at SIGTERM answered "
           f"({lost[:5]} lost; {len(refused)} sent while it was down were refused)")
    took = http.wait_ready()
    say(f"ok: gateway ready again {took:.1f} s after its restart")
    wait_healthy(["gateway"])
    answered = load.answered()
    wait_for(f"all {len(answered)} records answered around the gateway restart are in Redis",
             lambda: set(answered) <= stream_ids(), 60)
    expect(len(stream_ids()) > before, "the stream grew")


def volume(http: Http, services: list[str]) -> None:
    kept = stream_ids()
    expect(bool(kept), f"{len(kept)} records before down")
    compose("down")
    compose("up", "-d", "--no-build", *services)
    wait_healthy(services)
    http.wait_ready()
    after = stream_ids()
    expect(kept <= after, f"after down + up the Redis volume still holds all {len(kept)} records")


def hostedge(http: Http) -> None:
    http.wait_ready()
    status, headers, _body, _rid = http.chat("edge", timeout_s=120)
    h = {k.lower(): v for k, v in headers.items()}
    expect(status == 200 and h.get("x-netgpt-route") == "edge",
           f"hostedge: the model server on the box answers through edge-host "
           f"(got {status} route={h.get('x-netgpt-route')})")
    status, headers, _body, rid = http.chat("cloud")
    expect(status == 200, "hostedge: the cloud answers too")
    check_record(rid)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gateway", required=True, help="the gateway's published base URL")
    parser.add_argument("--prometheus", required=True, help="Prometheus's published base URL")
    parser.add_argument("check", choices=["wait-healthy", "traffic", "restarts", "volume",
                                          "hostedge"], help="which check to run")
    parser.add_argument("services", nargs="*", help="services (wait-healthy, volume)")
    args = parser.parse_args(argv)
    http = Http(args.gateway, args.prometheus)
    try:
        if args.check == "wait-healthy":
            wait_healthy(args.services)
            if "gateway" in args.services:
                http.wait_ready()
        elif args.check == "traffic":
            traffic(http)
        elif args.check == "restarts":
            restarts(http)
        elif args.check == "volume":
            volume(http, args.services)
        else:
            hostedge(http)
    except CheckFailed as exc:
        print(f"  CHECK FAILED: {exc}", file=sys.stderr, flush=True)  # noqa: T201
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
