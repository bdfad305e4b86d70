"""The load benchmark's harness: the request it sends, the scripts and configs it writes, the
parsing of the generators' reports and the figures derived from them. No timing is asserted."""

from __future__ import annotations

import asyncio
import re
import subprocess
from pathlib import Path

import orjson
import pytest

from bench.common.bodies import request_bytes
from bench.load import loadgen, report, upstream
from bench.load.loadgen import FixedRate, Saturation
from gateway.protocol.chat import parse_request


def test_the_body_is_a_valid_tool_calling_request_of_about_1_5_kb() -> None:
    raw = request_bytes()
    assert 1200 <= len(raw) <= 2000
    parsed = parse_request(orjson.loads(raw))  # the gateway accepts it as is
    assert parsed.model == "auto"
    assert parsed.tool_names == ["get_weather", "search_flights", "book_hotel"]
    assert [m.role for m in parsed.messages] == ["system", "user", "assistant", "tool", "user"]
    assert orjson.loads(request_bytes("edge"))["model"] == "edge"


def test_the_wrk_script_posts_the_body_verbatim() -> None:
    body = request_bytes()
    script = loadgen.lua_script(body)
    assert 'wrk.method = "POST"' in script
    assert 'wrk.headers["Content-Type"] = "application/json"' in script
    embedded = re.search(r"wrk\.body = \[==\[(.*)\]==\]", script, re.S)
    assert embedded is not None
    assert embedded.group(1).encode() == body
    assert orjson.loads(embedded.group(1))["tools"][0]["function"]["name"] == "get_weather"


def test_a_body_that_would_end_the_lua_string_is_refused() -> None:
    with pytest.raises(ValueError, match="long string"):
        loadgen.lua_script(b'{"content": "]==]"}')


WRK_OUTPUT = """Running 4s test @ http://127.0.0.1:1/v1/chat/completions
  1 threads and 16 connections
NETGPT_JSON {"requests": 12000, "duration_us": 4000000, "bytes": 1, "connect_errors": 0, "read_errors": 1, "write_errors": 0, "status_errors": 2, "timeouts": 0, "mean_us": 5000.0, "p50_us": 4500, "p90_us": 7000, "p99_us": 9100, "max_us": 12000}
Requests/sec:   3000.00
"""


def test_the_wrk_report_is_read_from_its_marked_line() -> None:
    sat = Saturation.from_wrk(loadgen.parse_marked(WRK_OUTPUT))
    assert sat.rps == pytest.approx(3000.0)
    assert sat.errors == 3
    assert (sat.p50_ms, sat.p99_ms) == (4.5, 9.1)
    assert sat.cpu_us_per_request is None


def test_missing_marked_line_says_what_was_printed() -> None:
    with pytest.raises(ValueError, match="unable to connect"):
        loadgen.parse_marked("unable to connect to 127.0.0.1:1 Connection refused")


def test_canned_answers_become_static_files_nginx_serves_on_post(tmp_path: Path) -> None:
    canned = upstream.Canned(edge=b'{"e": "$x"}', invalid=b'{"i": 1}', cloud=b'{"c": "\\\\"}')
    conf = upstream.nginx_config(8080, canned, tmp_path)
    for route in upstream.ROUTES:
        assert f"location = /{route}/v1/chat/completions" in conf
        assert (tmp_path / "canned" / f"{route}.json").read_bytes() == canned.body(route)
    assert "error_page 405 =200" in conf  # POST to a static file is turned into a GET
    assert "listen 127.0.0.1:8080" in conf
    assert "keepalive_requests" in conf


def _sat(rps: float, cpu_s: float | None = None) -> Saturation:
    return Saturation(rps=rps, requests=int(rps * 4), errors=0, p50_ms=1.0, p99_ms=2.0, cpu_s=cpu_s)


def _rate(p50: float, p99: float) -> FixedRate:
    return FixedRate(rate=1000, achieved_rps=1000, completed=4000, errors=0, p50_ms=p50, p90_ms=p50, p99_ms=p99, max_ms=p99)


def test_figures_are_medians_over_rounds_with_overheads_and_ratios() -> None:
    sat = report.summarize_saturation(
        {
            report.LITELLM: [_sat(80, 3.2), _sat(90, 3.6), _sat(100, 4.0)],
            report.EDGE: [_sat(2000, 2.4), _sat(3000, 4.0), _sat(2500, 3.0)],
        }
    )
    assert sat[report.EDGE]["rps"] == 2500
    assert sat[report.EDGE]["cpu_us_per_request"] == pytest.approx(300.0)
    assert sat[report.LITELLM]["rps_per_core"] == pytest.approx(100.0)
    rates = {
        "1000": report.summarize_rate(
            {
                report.DIRECT: [_rate(0.10, 0.5), _rate(0.12, 0.7)],
                report.DIRECT_CLOUD: [_rate(0.20, 0.6), _rate(0.20, 0.6)],
                report.EDGE: [_rate(0.70, 2.5), _rate(0.72, 2.7)],
                report.FALLBACK: [_rate(1.30, 5.0), _rate(1.32, 5.2)],
            }
        )
    }
    derived = report.derive(sat, rates)
    assert derived[f"{report.EDGE}_rps_over_litellm"] == pytest.approx(2500 / 90)
    assert derived[f"{report.EDGE}_rps_per_core_over_litellm"] == pytest.approx((1e6 / 300) / 100)
    at = derived["at_1000"]
    assert at[f"{report.EDGE}_added_p50_ms"] == pytest.approx(0.71 - 0.11)
    # the fallback's overhead is over the SUM of the two upstream calls
    assert at[f"{report.FALLBACK}_added_p50_ms"] == pytest.approx(1.31 - (0.11 + 0.20))

    result = {"saturation": sat, "fixed_rate": rates, "derived": derived, "meta": {"rounds": 2}}
    result["checks"] = report.checks(result, "1000")
    verdicts = {row["check"]: row["ok"] for row in result["checks"]}
    assert verdicts["edge path RPS / LiteLLM RPS (one core)"] is True  # 27.8x
    assert verdicts["edge added p50 at 1000 req/s (ms)"] is True
    assert verdicts["2 workers / 1 worker RPS (shared state on)"] is None  # not measured: neither pass nor fail
    assert verdicts["edge path RPS per core (CPU-normalised)"] is False  # 3,333 < 4,000
    text = report.table(result)
    assert "LiteLLM proxy, 1 worker" in text and "gateway, edge path" in text
    assert "2500" in text and "0.600" in text


def test_a_round_without_a_measured_latency_is_not_a_latency() -> None:
    lost = FixedRate(rate=1000, achieved_rps=300, completed=1200, errors=4800, p50_ms=-1, p90_ms=-1, p99_ms=-1, max_ms=-1)
    rates = {"1000": report.summarize_rate({
        report.DIRECT: [_rate(0.10, 0.5)], report.EDGE: [_rate(1.1, 4.0), lost, lost]})}
    assert rates["1000"][report.EDGE]["p50_ms"] == pytest.approx(1.1)  # not the median of -1, -1, 1.1
    assert rates["1000"][report.EDGE]["rounds_without_latency"] == 2
    rates = {"1000": report.summarize_rate({report.DIRECT: [_rate(0.10, 0.5)], report.EDGE: [lost]})}
    result = {"saturation": {}, "fixed_rate": rates, "derived": report.derive({}, rates), "meta": {}}
    verdict = {row["check"]: row["ok"] for row in report.checks(result, "1000")}
    assert verdict["edge added p50 at 1000 req/s (ms)"] is False  # none measured: not met


def test_a_baseline_tree_gets_the_same_overheads_beside_this_one() -> None:
    rates = {
        "1000": report.summarize_rate(
            {
                report.DIRECT: [_rate(0.10, 0.5)],
                report.DIRECT_CLOUD: [_rate(0.20, 0.6)],
                report.EDGE: [_rate(0.70, 2.5)],
                report.BASE_EDGE: [_rate(0.80, 2.9)],
                report.FALLBACK: [_rate(1.30, 5.0)],
                report.BASE_FALLBACK: [_rate(1.50, 5.5)],
            }
        )
    }
    at = report.derive({}, rates)["at_1000"]
    assert at[f"{report.BASE_EDGE}_added_p50_ms"] == pytest.approx(0.70)
    assert at[f"{report.BASE_FALLBACK}_added_p50_ms"] == pytest.approx(1.50 - 0.30)
    text = report.table({"saturation": {}, "fixed_rate": rates, "derived": {"at_1000": at}, "meta": {}})
    assert "baseline tree, edge path" in text and "baseline tree, fallback path" in text


# -- the open-loop generator against a real loopback server -----------------------------------


async def _serve(framing: str) -> tuple[asyncio.Server, list[int]]:
    seen: list[int] = []
    body = b'{"ok": true}'

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                break
            length = int(re.search(rb"Content-Length: (\d+)", head).group(1))  # type: ignore[union-attr]
            seen.append(len(await reader.readexactly(length)))
            if framing == "chunked":
                writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                             + f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n")
            else:
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, seen


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
async def test_openloop_sends_the_scheduled_requests_and_reports_json(tmp_path: Path, framing: str) -> None:
    binary = loadgen.build_openloop(tmp_path / "tools")
    assert loadgen.build_openloop(tmp_path / "tools") == binary  # built once per source version
    server, seen = await _serve(framing)
    port = server.sockets[0].getsockname()[1]
    body_file = tmp_path / "body.json"
    body_file.write_bytes(request_bytes())
    async with server:
        proc = await asyncio.create_subprocess_exec(
            str(binary), "127.0.0.1", str(port), "/v1/chat/completions", str(body_file),
            "200", "0.5", "4", "0.1", stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        out, err = await proc.communicate()
    assert proc.returncode == 0, err
    parsed = orjson.loads(out)
    run = FixedRate.from_openloop(parsed)
    assert run.errors == 0
    # one slot per second of the run, warm-up included (0.6 s: one slot)
    assert len(parsed["worst_ms_per_second"]) == 1 and parsed["worst_ms_per_second"][0] > 0
    assert run.completed == len(seen) >= 100  # 0.6 s at 200/s, all answered
    assert set(seen) == {len(request_bytes())}  # the body arrived whole every time
    assert 0 < run.p50_ms <= run.p99_ms <= run.max_ms


def test_openloop_refuses_bad_arguments(tmp_path: Path) -> None:
    binary = loadgen.build_openloop(tmp_path / "tools")
    done = subprocess.run([str(binary), "localhost", "1", "/", "x", "0", "1", "1", "0"], capture_output=True, text=True, check=False)
    assert done.returncode == 2 and "positive" in done.stderr


def test_worker_scaling_reports_the_ratio_and_the_cost_per_request() -> None:
    per = {"1": [_sat(2000, 4.0), _sat(2200, 4.4)], "2": [_sat(3600, 7.2), _sat(3800, 7.6)]}
    out = report.summarize_workers(per, 64)
    assert out["ratio"] == pytest.approx(3700 / 2100)
    assert out["cpu_us_per_request"]["1"] == pytest.approx(500.0)
    assert out["cpu_us_per_request"]["2"] == pytest.approx(500.0)  # no extra cost per request
    assert out["gateway_cores_busy"]["2"] == pytest.approx(1.85)
    assert "ratio 1.76" in report.table({"workers": out})
