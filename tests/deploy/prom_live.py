"""Every dashboard query and alert expression, evaluated by a real Prometheus after a mixed run.

Prometheus (Debian's ``prometheus`` package) is started on a free loopback port with its own
TSDB directory, scraping every second: the gateway (``netgpt-gateway``), the real llama.cpp
edge (``llamacpp``, llama-server with ``--metrics``), the fake vLLM (``vllm``: exact series
names, simulated values; no vLLM runs without a GPU) and itself; it loads the committed rules
(``deploy/prometheus/rules/*.yml``). A mixed run goes through the gateway: real edge drafts
(answered at the edge or sent to the cloud on their score or schema), forced cloud answers,
shadow calls, a streamed answer, cloud errors, schema-invalid cloud answers and bad requests.
Then each query is sent to ``/api/v1/query`` at the end of the run.

Grafana's ``$__rate_interval`` becomes ``1m`` and ``$__range`` ``5m`` (the run is shorter than
either, so the windows hold all of it). An alert is a condition that is normally false, so for
each alert its inputs are evaluated too: the expression with its top-level comparison removed,
per side of a top-level ``and``/``or``/``unless``; the alert's own result is reported (firing
or not) and Prometheus' own evaluation of the loaded rule must be healthy.

    python -m tests.deploy.prom_live --write docs/dashboards-check.md   # regenerates the table

``tests/deploy/test_prometheus_live.py`` runs the same check in CI.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.promql import DASHBOARDS, RULES, dashboard_exprs

SCRAPE_INTERVAL = "1s"
SUBSTITUTIONS = {"$__rate_interval": "1m", "$__range": "5m", "$__interval": "1s"}

# queries that cannot return data on this machine, and why (matched against the metric names)
NEEDS_GPU = "needs vLLM itself (GPU): the fake vLLM exports its gauges and token counters only"
EXPECTED_EMPTY = {
    "vllm:time_to_first_token_seconds_bucket": NEEDS_GPU,
    "vllm:e2e_request_latency_seconds_bucket": NEEDS_GPU,
    "vllm:num_preemptions_total": NEEDS_GPU,
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prometheus_binary() -> str:
    found = shutil.which("prometheus")
    if found is None:
        raise RuntimeError(
            "prometheus is not installed: `apt-get install -y prometheus` (scripts/test and "
            "scripts/check-deploy install it)"
        )
    return found


class Prometheus:
    """A Prometheus server on a free loopback port, with its own TSDB in ``workdir``."""

    def __init__(self, workdir: Path, scrape: dict[str, list[str]]) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        jobs = [{"job_name": job, "metrics_path": "/metrics", "static_configs": [{"targets": targets}]}
                for job, targets in scrape.items()]
        jobs.append({"job_name": "prometheus", "static_configs": [{"targets": [f"127.0.0.1:{self.port}"]}]})
        config = {
            "global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": SCRAPE_INTERVAL,
                       "scrape_timeout": SCRAPE_INTERVAL},
            "rule_files": [str(path) for path in sorted(RULES.glob("*.yml"))],
            "scrape_configs": jobs,
        }
        self.config = workdir / "prometheus.yml"
        self.config.write_text(yaml.safe_dump(config))
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Prometheus:
        log = (self.workdir / "prometheus.log").open("wb")
        self._proc = subprocess.Popen(
            [prometheus_binary(), f"--config.file={self.config}",
             f"--storage.tsdb.path={self.workdir / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while True:
            if self._proc.poll() is not None:
                raise RuntimeError(f"prometheus exited: {(self.workdir / 'prometheus.log').read_text()[-2000:]}")
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(self.url + "/-/ready", timeout=2) as resp:
                    if resp.status == 200:
                        return self
            if time.monotonic() > deadline:
                raise RuntimeError("prometheus did not become ready in 60 s")
            time.sleep(0.2)

    def __exit__(self, *_exc: object) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(15)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)

    def api(self, path: str, **params: Any) -> Any:
        url = f"{self.url}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=30) as resp:
                body = json.loads(resp.read())
        except urllib.error.HTTPError as exc:  # 400/422: a query Prometheus refuses
            body = json.loads(exc.read())
        if body.get("status") != "success":
            raise ValueError(f"{body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, expr: str, at: float) -> list[dict[str, Any]]:
        data = self.api("query", query=expr, time=f"{at:.3f}")
        result = data["result"]
        if data["resultType"] == "scalar":
            return [{"metric": {}, "value": result}]
        return list(result)

    def targets_up(self) -> dict[str, bool]:
        active = self.api("targets")["activeTargets"]
        return {t["labels"]["job"]: t["health"] == "up" for t in active}

    def wait_scraped(self, jobs: list[str], timeout_s: float = 30) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            up = self.targets_up()
            if all(up.get(job) for job in jobs):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"targets not up after {timeout_s} s: {up}")
            time.sleep(0.5)


def substitute(expr: str) -> str:
    for name, value in SUBSTITUTIONS.items():
        expr = expr.replace(name, value)
    return expr


_CMP = re.compile(r"(==|!=|>=|<=|>|<)")
_SET = re.compile(r"\b(and|or|unless)\b(\s+on\s*\([^)]*\))?")


def _top_level(expr: str, pattern: re.Pattern[str]) -> list[re.Match[str]]:
    """Matches of ``pattern`` outside (), [], {} and strings."""
    depth, quote, out = 0, "", []
    i = 0
    while i < len(expr):
        ch = expr[i]
        if quote:
            quote = "" if ch == quote and expr[i - 1] != "\\" else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif depth == 0:
            match = pattern.match(expr, i)
            if match:
                out.append(match)
                i = match.end()
                continue
        i += 1
    return out


def _strip_parens(expr: str) -> str:
    expr = expr.strip()
    while expr.startswith("(") and expr.endswith(")") and not _top_level(expr[1:-1], re.compile(r"\)")):
        inner = expr[1:-1]
        # only when the outer pair encloses everything
        depth = 0
        balanced = True
        for ch in inner:
            depth += ch == "("
            depth -= ch == ")"
            if depth < 0:
                balanced = False
                break
        if not balanced:
            break
        expr = inner.strip()
    return expr


def alert_inputs(expr: str) -> list[str]:
    """The expressions an alert compares: each side of a top-level set operator, with its
    top-level comparison (``> 0.05``, ``== 0``) removed."""
    expr = " ".join(expr.split())
    parts, start = [], 0
    for match in _top_level(expr, _SET):
        parts.append(expr[start:match.start()])
        start = match.end()
    parts.append(expr[start:])
    inputs = []
    for part in parts:
        part = _strip_parens(part)
        comparisons = _top_level(part, _CMP)
        if comparisons:
            part = part[: comparisons[0].start()]
        inputs.append(_strip_parens(part))
    return inputs


@dataclass
class Row:
    source: str  # dashboard / panel, or rule name
    kind: str  # "panel", "alert", "alert input"
    expr: str
    series: int
    value: str
    error: str | None = None
    expected_empty: str | None = None

    @property
    def ok(self) -> bool:
        if self.kind == "alert":  # a condition: firing or not, it must evaluate
            return self.error is None
        return self.error is None and (self.series > 0 or self.expected_empty is not None)


def _why_empty(expr: str) -> str | None:
    from tests.deploy.promql import metric_names

    for name in sorted(metric_names(expr)):
        if name in EXPECTED_EMPTY:
            return EXPECTED_EMPTY[name]
    return None


def _fmt(result: list[dict[str, Any]]) -> str:
    if not result:
        return ""
    first = result[0]
    labels = ",".join(f"{k}={v}" for k, v in sorted(first["metric"].items()) if k != "__name__")
    value = first["value"][1]
    with contextlib.suppress(ValueError):
        value = f"{float(value):.4g}"
    return f"{value}" + (f" ({labels})" if labels else "")


def evaluate(prom: Prometheus, at: float) -> list[Row]:
    rows: list[Row] = []

    def run(source: str, kind: str, expr: str) -> None:
        expr = substitute(" ".join(expr.split()))
        try:
            result = prom.query(expr, at)
        except ValueError as exc:
            rows.append(Row(source, kind, expr, 0, "", error=str(exc)))
            return
        rows.append(Row(source, kind, expr, len(result), _fmt(result),
                        expected_empty=None if result else _why_empty(expr)))

    for path in sorted(DASHBOARDS.glob("*.json")):
        for where, expr in dashboard_exprs(json.loads(path.read_text(encoding="utf-8"))):
            run(where, "panel", expr)
    for path in sorted(RULES.glob("*.yml")):
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            for rule in group["rules"]:
                name = rule.get("alert") or rule.get("record")
                expr = substitute(" ".join(rule["expr"].split()))
                try:
                    firing = prom.query(expr, at)
                    rows.append(Row(f"rule {name}", "alert", expr, len(firing),
                                    "firing" if firing else "not firing"))
                except ValueError as exc:
                    rows.append(Row(f"rule {name}", "alert", expr, 0, "", error=str(exc)))
                for part in alert_inputs(rule["expr"]):
                    run(f"rule {name}", "alert input", part)
    return rows


def rule_health(prom: Prometheus) -> dict[str, str]:
    """Prometheus' own evaluation of every loaded rule: name -> health (``ok``)."""
    out = {}
    for group in prom.api("rules")["groups"]:
        for rule in group["rules"]:
            out[rule["name"]] = rule["health"] + (f": {rule['lastError']}" if rule.get("lastError") else "")
    return out


# ------------------------------------------------------------------------------- the mixed run
TOOLS = [
    {"type": "function", "function": {
        "name": "get_weather", "description": "Current weather in a city",
        "parameters": {"type": "object", "properties": {
            "city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
            "required": ["city"]}}},
    {"type": "function", "function": {
        "name": "lookup_postcode", "description": "A Norwegian post code (four digits) of a place",
        "parameters": {"type": "object", "properties": {
            "code": {"type": "integer", "minimum": 1000, "maximum": 9999}},
            "required": ["code"], "additionalProperties": False}}},
]


def _chat(url: str, body: dict[str, Any], timeout_s: float = 180) -> tuple[int, dict[str, str]]:
    request = urllib.request.Request(
        url + "/v1/chat/completions", data=json.dumps(body).encode(), method="POST",
        headers={"content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as resp:
            resp.read()
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}
    except urllib.error.HTTPError as exc:
        exc.read()
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}


def mixed_run(url: str) -> list[tuple[str, int, str]]:
    """(what, status, route/reason) per request: real edge drafts, cloud, shadow, errors."""
    user = [{"role": "user", "content": "What is the weather in Oslo in celsius?"}]
    postcode = [{"role": "user", "content": "Look up the post code of the town Hamar."}]
    plan: list[tuple[str, dict[str, Any] | bytes]] = [
        ("real edge draft, auto", {"model": "auto", "messages": user, "tools": TOOLS[:1]}),
        ("real edge draft, auto", {"model": "auto", "messages": postcode, "tools": TOOLS}),
        ("real edge draft, streamed", {"model": "auto", "messages": user, "tools": TOOLS[:1],
                                       "stream": True}),
        ("forced edge", {"model": "edge", "messages": user, "tools": TOOLS[:1]}),
        # more than the slot's context: llama-server refuses it, the cloud answers
        ("edge refuses (prompt over its context)", {
            "model": "auto", "tools": TOOLS[:1],
            "messages": [{"role": "user", "content": "weather " * 6000 + "in Oslo?"}]}),
        ("forced cloud", {"model": "cloud", "messages": user, "tools": TOOLS[:1]}),
        ("forced cloud, schema-invalid answer", {"model": "cloud", "messages": user, "tools": TOOLS[:1],
                                                 "x_fake": {"cloud": {"mode": "wrong_type"}}}),
        ("forced cloud, cloud error", {"model": "cloud", "messages": user, "tools": TOOLS[:1],
                                       "x_fake": {"cloud": {"mode": "error", "status": 500}}}),
        ("bad request", b"{not json"),
        ("bad field", {"model": "auto", "messages": [], "tools": TOOLS}),
    ]
    out = []
    for what, body in plan:
        if isinstance(body, bytes):
            request = urllib.request.Request(url + "/v1/chat/completions", data=body, method="POST",
                                             headers={"content-type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=30) as resp:
                    status, headers = resp.status, {}
            except urllib.error.HTTPError as exc:
                status, headers = exc.code, {}
        else:
            status, headers = _chat(url, body)
        out.append((what, status, f"{headers.get('x-netgpt-route', '-')}/{headers.get('x-netgpt-reason', '-')}"))
    return out


def scenario_settings(edge_url: str, cloud_url: str, data_dir: Path, redis_url: str | None) -> Any:
    from gateway.config import Settings

    return Settings(
        edge={"base_url": edge_url, "model": "smollm2", "timeout_s": 180.0,
              "call_prefill": "<tool_call>\n", "draft_max_tokens": 64},
        cloud={"base_url": cloud_url, "model": "cloud-large", "api_key": "sk-prom-check-key",
               "max_retries": 0, "read_timeout_s": 10.0},
        network={"probes_enabled": True, "probe_interval_s": 1.0, "min_transfer_bytes": 100,
                 "stale_after_s": 60.0},
        # q_c low: τ near 0, so every schema-valid real draft is answered at the edge (and
        # shadowed: shadow_rate 1); invalid drafts and refusals still go to the cloud
        routing={"shadow_rate": 1.0, "q_cloud": 0.05},
        budget={"target_cloud_share": 0.3, "update_every": 2},
        dataset={"stream_key": f"test:prom-check:{uuid.uuid4().hex}"},
        data_dir=data_dir,
        redis_url=redis_url,
    )


@contextlib.contextmanager
def check_stack(edge_root_url: str, edge_base_url: str, workdir: Path, redis_url: str | None) -> Iterator[dict[str, Any]]:
    """Fake cloud, fake vLLM, the gateway on the real edge, Prometheus scraping all of them."""
    from bench.fakes import FakeUpstream
    from tests.conftest import GatewayServer
    from tests.support.server import ServerThread

    cloud = ServerThread(FakeUpstream(name="cloud", model="cloud-large", flavor="openai"))
    vllm_fake = ServerThread(FakeUpstream(name="vllm", model="edge-small", flavor="vllm"))
    with cloud, vllm_fake:
        settings = scenario_settings(edge_base_url, cloud.url + "/v1", workdir / "var", redis_url)
        with GatewayServer(settings) as gateway:
            hostport = {name: url.removeprefix("http://") for name, url in
                        (("gw", gateway.url), ("edge", edge_root_url), ("vllm", vllm_fake.url))}
            scrape = {"netgpt-gateway": [hostport["gw"]], "llamacpp": [hostport["edge"]],
                      "vllm": [hostport["vllm"]]}
            with Prometheus(workdir, scrape) as prom:
                prom.wait_scraped(list(scrape))
                yield {"prom": prom, "gateway": gateway, "vllm": vllm_fake}


def drive_fake_vllm(url: str) -> None:
    """A few requests to the fake vLLM, so its token counters move (rates need increases)."""
    for _ in range(3):
        _chat(url, {"model": "edge-small", "messages": [{"role": "user", "content": "hi"}], "tools": TOOLS[:1]})


def run_check(edge_root_url: str, edge_base_url: str, workdir: Path, redis_url: str | None) -> dict[str, Any]:
    started = time.time()
    with check_stack(edge_root_url, edge_base_url, workdir, redis_url) as stack:
        prom: Prometheus = stack["prom"]
        requests = mixed_run(stack["gateway"].url)
        drive_fake_vllm(stack["vllm"].url)
        time.sleep(4)  # a few scrapes and rule evaluations after the last request
        at = time.time()
        rows = evaluate(prom, at)
        health = rule_health(prom)
        up = prom.targets_up()
        edge_series = {
            name: prom.query(name, at)
            for name in ("llamacpp:requests_processing", "llamacpp:requests_deferred",
                         "llamacpp:predicted_tokens_seconds", "llamacpp:prompt_tokens_total")
        }
    return {"rows": rows, "rule_health": health, "targets_up": up, "requests": requests,
            "run_s": round(at - started, 1), "edge_series": {k: _fmt(v) for k, v in edge_series.items()}}


def render(result: dict[str, Any]) -> str:
    rows: list[Row] = result["rows"]
    with_data = sum(r.series > 0 for r in rows if r.kind != "alert")
    checked = sum(r.kind != "alert" for r in rows)
    lines = [
        "# Dashboards and alerts against a real Prometheus",
        "",
        "Generated by `python -m tests.deploy.prom_live --write docs/dashboards-check.md` (the same",
        "check runs in CI: `tests/deploy/test_prometheus_live.py`, marker `prometheus`). Prometheus",
        f"(Debian's package) scraped every {SCRAPE_INTERVAL}: the gateway, the **real** llama.cpp edge",
        "(llama-server with SmolLM2-135M, `--metrics`), a **fake** vLLM (exact series names, simulated",
        "values: vLLM needs a GPU) and itself, with the committed rules loaded. The mixed run before the",
        "queries (real edge drafts, forced routes, shadow calls, a stream, cloud errors, schema-invalid",
        "answers, bad requests):",
        "",
        "| request | HTTP | route/reason |",
        "|---|---|---|",
        *[f"| {what} | {status} | {rr} |" for what, status, rr in result["requests"]],
        "",
        f"Run to evaluation: {result['run_s']} s. Substitutions: "
        + ", ".join(f"`{k}` → `{v}`" for k, v in SUBSTITUTIONS.items())
        + ". Targets up: " + ", ".join(f"{job}={'up' if ok else 'DOWN'}" for job, ok in sorted(result['targets_up'].items()))
        + ".",
        "",
        f"**{with_data} of {checked}** panel queries and alert inputs returned data; every other one is",
        "listed with the reason. Alerts: the full expression's state at the end of the run (a",
        "healthy run fires none but those about what the run did on purpose), and Prometheus' own",
        "rule evaluation health.",
        "",
        "| source | kind | query (as evaluated) | series | first value | note |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        note = r.error or r.expected_empty or ("" if r.series or r.kind == "alert" else "NO DATA")
        if r.kind == "alert":
            note = "rule health: " + result["rule_health"].get(r.source.removeprefix("rule "), "not loaded")
        expr = r.expr.replace("|", "\\|")
        lines.append(f"| {r.source} | {r.kind} | `{expr}` | {r.series} | {r.value.replace('|', '/')} | {note} |")
    lines += ["", "The real edge's own series (not on a dashboard yet), at the end of the run:", ""]
    lines += [f"- `{name}`: {value or 'no data'}" for name, value in result["edge_series"].items()]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.deploy.prom_live", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", type=Path, help="write the Markdown table here (e.g. docs/dashboards-check.md)")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0",
                        help="Redis for the dataset stream (default: %(default)s; '' for none)")
    args = parser.parse_args()
    from edge_worker.llamacpp.server import LlamaServer

    with LlamaServer("smollm2", parallel=2, ctx_per_slot=4096) as edge, \
            tempfile.TemporaryDirectory(prefix="netgpt-prom-") as tmp:
        result = run_check(edge.root_url, edge.base_url, Path(tmp), args.redis_url or None)
    text = render(result)
    if args.write:
        args.write.write_text(text)
    print(text)  # noqa: T201
    bad = [r for r in result["rows"] if not r.ok]
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
