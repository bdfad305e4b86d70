"""The fault scenarios: each injects one fault, drives requests through a fresh gateway and
returns an :class:`Outcome` (what the client saw, what was logged, what was lost) with its
checks. ``tests/faults/test_faults.py`` asserts the checks; ``python -m tests.faults.report``
runs the same scenarios and writes the table in docs/faults.md.

Gateway settings of the rig: cloud connect timeout 0.5 s, read timeout 1 s, 1 retry (backoff
0.05 s, Retry-After honoured up to 1 s); edge timeout 1 s.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from tests.faults.harness import Outcome, Rig, body, call, call_many
from tests.faults.proxy import Unanswered

INVALID_EDGE = {"mode": "invalid_json"}  # the draft fails the schema guard: the cloud answers
LOW_SCORE_EDGE = {"logprob": -6.0}  # a valid draft that scores below τ: the cloud is asked


@dataclass(frozen=True)
class Scenario:
    name: str
    run: Callable[[Rig], Outcome]


def _no_loss(out: Outcome) -> None:
    out.check("every cloud-answered request is in Redis or the spool", not out.lost)


def _all(out: Outcome, predicate: Callable[..., bool], text: str) -> None:
    out.check(text, bool(out.replies) and all(predicate(r) for r in out.replies))


# ---------------------------------------------------------------------- cloud faults
def cloud_connect_timeout(rig: Rig) -> Outcome:
    out = Outcome("cloud connect timeout", "cloud address accepts no connection (SYNs dropped)")
    with Unanswered() as hole, rig.gateway(out, cloud={"base_url": hole.url + "/v1"}) as gw:
        forced = call_many(gw.url, [body(model="cloud")] * 4, "cct-forced", 4)
        fallback = call_many(gw.url, [body(edge=LOW_SCORE_EDGE)] * 4, "cct-draft", 4)
    out.replies = forced + fallback
    out.check(
        "forced cloud: 504 envelope, code upstream_timeout",
        all(
            r.status == 504 and r.shape == "error envelope" and r.code == "upstream_timeout"
            for r in forced
        ),
    )
    out.check(
        "auto with a valid draft: 200 from the edge, reason cloud_unavailable",
        all(
            r.status == 200 and r.route == "edge" and r.reason == "cloud_unavailable"
            for r in fallback
        ),
    )
    out.check(
        "bounded by the connect timeout (2 attempts × 0.5 s + backoff; < 3 s on a busy machine)",
        all(r.elapsed_s < 3.0 for r in out.replies),
    )
    _no_loss(out)
    return out


def cloud_read_timeout(rig: Rig) -> Outcome:
    out = Outcome(
        "cloud read timeout", "cloud link swallows the request, never answers (blackhole)"
    )
    assert rig.cloud_proxy is not None
    rig.cloud_proxy.set(blackhole=True)
    with rig.gateway(out) as gw:
        forced = call_many(gw.url, [body(model="cloud")] * 3, "crt-forced", 3)
        streamed = call_many(gw.url, [body(model="cloud", stream=True)] * 2, "crt-stream", 2)
        fallback = call_many(gw.url, [body(edge=LOW_SCORE_EDGE)] * 3, "crt-draft", 3)
    out.replies = forced + streamed + fallback
    out.check(
        "forced cloud (JSON and stream): 504 envelope before any byte was sent",
        all(r.status == 504 and r.shape == "error envelope" for r in forced + streamed),
    )
    out.check(
        "auto with a valid draft: the edge draft (cloud_unavailable)",
        all(r.status == 200 and r.reason == "cloud_unavailable" for r in fallback),
    )
    out.check(
        "bounded by the read timeout (1 s; < 3 s on a busy machine)",
        all(r.elapsed_s < 3.0 for r in out.replies),
    )
    out.check(
        "a read timeout is not retried (no retry logged)",
        not any("cloud attempt" in line for line in out.logged),
    )
    _no_loss(out)
    return out


def cloud_reset_before_response(rig: Rig) -> Outcome:
    out = Outcome("cloud reset before the answer", "RST when the cloud's first answer byte arrives")
    assert rig.cloud_proxy is not None
    with rig.gateway(out) as gw:
        once = []
        for i in range(4):
            rig.cloud_proxy.set(reset_before_response=True, times=1)  # the first attempt only
            once.append(call(gw.url, body(model="cloud"), f"crb-once-{i}"))
        rig.cloud_proxy.set(reset_before_response=True)  # every attempt
        always = call_many(gw.url, [body(model="cloud")] * 3, "crb-always", 3)
        always_stream = call_many(gw.url, [body(model="cloud", stream=True)] * 2, "crb-always-s", 2)
    out.replies = once + always + always_stream
    out.check(
        "a reset attempt is retried: 200 completion",
        all(r.status == 200 and r.shape == "completion" for r in once),
    )
    out.check(
        "reset on every attempt: 503 envelope upstream_unreachable (stream too: nothing was sent yet)",
        all(r.status == 503 and r.shape == "error envelope" for r in always + always_stream),
    )
    out.check("retries logged", any("cloud attempt" in line for line in out.logged))
    _no_loss(out)
    return out


def cloud_reset_mid_stream(rig: Rig) -> Outcome:
    out = Outcome("cloud reset mid-stream", "RST after 1,200 bytes of a streamed cloud answer")
    assert rig.cloud_proxy is not None
    slow = {"chunk_delay_s": 0.01}
    with rig.gateway(out) as gw:
        rig.cloud_proxy.set(reset_after_bytes=1200)
        broken = call_many(
            gw.url, [body(model="cloud", stream=True, cloud=slow)] * 4, "crm-broken", 4
        )
        rig.cloud_proxy.set()
        healthy = call_many(gw.url, [body(model="cloud", stream=True)] * 2, "crm-ok", 2)
    out.replies = broken + healthy
    out.check(
        "broken streams: 200, some chunks, then an error event and no [DONE]",
        all(r.status == 200 and r.shape == "sse error event, no [DONE]" for r in broken),
    )
    out.check("no silent truncation", not any("truncated" in r.shape for r in out.replies))
    out.check(
        "counted as failed (requests_total status 503)",
        out.log_statuses.get("cloud/forced/503", 0) == len(broken),
    )
    out.check("healthy streams after it: complete", all(r.shape == "sse complete" for r in healthy))
    out.check(
        "the broken streams left no record, the healthy ones did",
        not ({r.rid for r in broken} & out.recorded) and {r.rid for r in healthy} <= out.recorded,
    )
    _no_loss(out)
    return out


def cloud_429_storm(rig: Rig) -> Outcome:
    out = Outcome(
        "cloud 429 storm", "the cloud answers 429 (Retry-After: 0.3 s) to the first 24 attempts"
    )
    rig.cloud_fake.configure(
        {"mode": "error", "status": 429, "retry_after_s": 0.3, "fail_times": 24}
    )
    with rig.gateway(out) as gw:
        replies = call_many(gw.url, [body(edge=INVALID_EDGE)] * 24, "c429", 12)
        late = call_many(gw.url, [body(edge=INVALID_EDGE)] * 4, "c429-late", 4)
    out.replies = replies + late
    ok = [r for r in replies if r.status == 200]
    out.check(
        "every request answered: 200 from the cloud after Retry-After, or, when the retry hit "
        "429 too, 503 upstream_rate_limited with Retry-After",
        all(
            r.status == 200
            or (r.status == 503 and r.code == "upstream_rate_limited" and r.retry_after == "1")
            for r in replies
        ),
    )
    out.check(
        "the Retry-After wait was honoured: every request that met a 429 was answered after "
        ">= 0.3 s (503s after their retry, and some 200s after theirs)",
        all(r.elapsed_s >= 0.3 for r in replies if r.status == 503)
        and any(r.elapsed_s >= 0.3 for r in ok),
    )
    out.check(
        "failures are OpenAI envelopes",
        all(r.shape == "error envelope" for r in replies if r.status != 200),
    )
    out.check("after the storm: all 200", all(r.status == 200 for r in late))
    _no_loss(out)
    return out


def cloud_5xx_burst(rig: Rig) -> Outcome:
    out = Outcome("cloud 5xx burst", "the cloud answers 503 to the next 16 attempts, then recovers")
    rig.cloud_fake.configure({"mode": "error", "status": 503, "fail_times": 16})
    with rig.gateway(out) as gw:
        during = call_many(
            gw.url, [body(edge=INVALID_EDGE)] * 6 + [body(edge=LOW_SCORE_EDGE)] * 2, "c5xx", 4
        )
        after = call_many(gw.url, [body(edge=INVALID_EDGE)] * 4, "c5xx-after", 4)
    out.replies = during + after
    out.check(
        "invalid draft: 502 envelope while the burst lasts",
        all(r.status in (200, 502) for r in during[:6])
        and any(r.status == 502 for r in during[:6]),
    )
    out.check(
        "valid draft: the edge answers (cloud_unavailable) or the cloud (200)",
        all(r.status == 200 for r in during[6:]),
    )
    out.check(
        "after the burst: all 200 from the cloud",
        all(r.status == 200 and r.route == "cloud" for r in after),
    )
    _no_loss(out)
    return out


def cloud_slow_link(rig: Rig) -> Outcome:
    out = Outcome("cloud slow link", "cloud link: +300 ms latency, 20 kB/s, close delayed 2 s")
    assert rig.cloud_proxy is not None
    rig.cloud_proxy.set(latency_s=0.3, bandwidth_bps=20_000, slow_close_s=2.0)
    with rig.gateway(out, cloud={"read_timeout_s": 3.0}) as gw:
        out.replies = call_many(
            gw.url,
            [body(edge=INVALID_EDGE)] * 3 + [body(model="cloud", stream=True)] * 2,
            "cslow",
            5,
        )
    out.check(
        "all answered completely, slower (>= 0.3 s)",
        all(
            r.status == 200 and r.shape in ("completion", "sse complete") and r.elapsed_s >= 0.3
            for r in out.replies
        ),
    )
    _no_loss(out)
    return out


# ---------------------------------------------------------------------- edge faults
def edge_faults(rig: Rig) -> Outcome:
    out = Outcome(
        "edge reset / blackhole / mid-body reset",
        "edge link: RST before the answer, never answers, or RST after 300 bytes of the draft",
    )
    assert rig.edge_proxy is not None
    with rig.gateway(out) as gw:
        replies = []
        for toxic, tag in (
            ({"reset_before_response": True}, "rst"),
            ({"blackhole": True}, "hole"),
            ({"reset_after_bytes": 300}, "mid"),
        ):
            rig.edge_proxy.set(**toxic)
            replies += call_many(gw.url, [body(), body(stream=True)], f"edge-{tag}", 2)
        rig.edge_proxy.set()
    out.replies = replies
    out.check(
        "the cloud answers, reason edge_unavailable",
        all(
            r.status == 200 and r.route == "cloud" and r.reason == "edge_unavailable"
            for r in replies
        ),
    )
    out.check(
        "streams are whole (the draft is buffered: no half-sent edge answer)",
        all(r.shape in ("completion", "sse complete") for r in replies),
    )
    out.check(
        "the edge timeout (1 s) bounds the blackhole (< 3 s)",
        all(r.elapsed_s < 3.0 for r in replies),
    )
    _no_loss(out)
    return out


# ---------------------------------------------------------------------- Redis
def redis_restart(rig: Rig) -> Outcome:
    out = Outcome(
        "Redis stopped and restarted mid-run",
        "redis-server stopped for ~2 s while cloud-routed "
        "requests flow, then started again; later its connections are reset by the proxy",
    )
    assert rig.redis_proxy is not None
    replies: list = []
    stop = threading.Event()

    def drive(gw_url: str, lane: int) -> None:
        i = 0
        while not stop.is_set():
            replies.append(call(gw_url, body(edge=INVALID_EDGE), f"redis-{lane}-{i:04d}"))
            i += 1

    with rig.gateway(out) as gw:
        lanes = [threading.Thread(target=drive, args=(gw.url, k)) for k in range(3)]
        for t in lanes:
            t.start()
        time.sleep(1.0)
        down = time.monotonic()
        rig.redis.stop()
        time.sleep(2.0)
        up = time.monotonic()
        rig.redis.start()
        time.sleep(1.5)
        rig.redis_proxy.reset_all()
        time.sleep(1.0)
        stop.set()
        for t in lanes:
            t.join(10)
    out.replies = replies
    out.check(
        "every request answered 200 by the cloud",
        all(r.status == 200 and r.route == "cloud" for r in replies),
    )
    during = [r for r in replies if down <= r.started and r.started + r.elapsed_s <= up]
    out.check("requests were answered while Redis was down", len(during) >= 3)
    out.notes.append(f"{len(during)} requests sent and answered while Redis was down")
    _no_loss(out)
    return out


# ---------------------------------------------------------------------- the real edge
def _edge_busy(root_url: str) -> bool:
    """Whether llama-server has taken a request since it started (its /metrics)."""
    try:
        text = httpx.get(root_url + "/metrics", timeout=2).text
    except httpx.HTTPError:
        return False
    total = 0.0
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name in (
            "llamacpp:requests_processing",
            "llamacpp:requests_deferred",
            "llamacpp:prompt_tokens_total",
        ):
            total += float(value or 0)
    return total > 0


def real_edge_restart(rig: Rig) -> Outcome:
    out = Outcome(
        "real llama.cpp edge killed and restarted",
        "llama-server (SmolLM2-135M) SIGKILLed "
        "with requests in flight, started again on the same port 3 s later",
    )
    edge = rig.real_edge
    if edge is None:
        out.notes.append("not run: the real llama-server is not built (netgpt edge install)")
        return out
    replies: list = []
    stop = threading.Event()
    marks: dict[str, float] = {}

    def drive(gw_url: str, lane: int) -> None:
        i = 0
        while not stop.is_set():
            replies.append(call(gw_url, body(), f"llama-{lane}-{i:04d}", 90.0))
            i += 1

    edge_cfg = {
        "base_url": edge.base_url,
        "model": "smollm2",
        "timeout_s": 20.0,
        "call_prefill": "<tool_call>\n",
    }
    with rig.gateway(out, edge=edge_cfg) as gw:
        lanes = [threading.Thread(target=drive, args=(gw.url, k)) for k in range(3)]
        for t in lanes:
            t.start()
        time.sleep(3.0)
        marks["kill"] = time.monotonic()
        edge.kill()
        time.sleep(3.0)
        marks["start"] = time.monotonic()
        edge.start()
        marks["up"] = time.monotonic()
        # the gateway drafts on the restarted server again: its own counters start at zero
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not _edge_busy(edge.root_url):
            time.sleep(0.2)
        resumed = _edge_busy(edge.root_url)
        deadline = time.monotonic() + 25  # one request sent after the restart, answered
        while time.monotonic() < deadline and not any(r.started > marks["up"] for r in replies):
            time.sleep(0.2)
        stop.set()
        for t in lanes:
            t.join(120)
    out.replies = replies
    in_flight = [r for r in replies if r.started < marks["kill"] < r.started + r.elapsed_s]
    down = [
        r for r in replies if marks["kill"] <= r.started and r.started + r.elapsed_s <= marks["up"]
    ]
    back = [r for r in replies if r.started > marks["up"]]
    out.notes.append(
        f"{len(in_flight)} in flight at the kill, {len(down)} sent while it was down, "
        f"restart took {marks['up'] - marks['start']:.1f} s"
    )
    out.check("every request answered 200", all(r.status == 200 for r in replies))
    out.check(
        "requests in flight at the kill: answered by the cloud (edge_unavailable) within 3 s of it",
        bool(in_flight)
        and all(r.route == "cloud" and r.reason == "edge_unavailable" for r in in_flight)
        and all(r.started + r.elapsed_s - marks["kill"] < 3.0 for r in in_flight),
    )
    out.check(
        "while it was down: the cloud answers without waiting for an edge timeout (< 5 s)",
        all(r.reason == "edge_unavailable" and r.elapsed_s < 5.0 for r in down),
    )
    out.check(
        "after the restart the gateway drafts on the edge again (its /metrics count them)", resumed
    )
    drafted = [r for r in back if r.reason != "edge_unavailable"]
    before = [r for r in replies if r.started + r.elapsed_s < marks["kill"]]
    drafted_before = [r for r in before if r.reason != "edge_unavailable"]
    out.notes.append(
        f"edge drafts within the 20 s edge timeout: {len(drafted_before)} of {len(before)} "
        f"before the kill, {len(drafted)} of {len(back)} after the restart (SmolLM2 on this "
        "contended CPU; the others were answered by the cloud)"
    )
    _no_loss(out)
    return out


# ---------------------------------------------------------------------- slow clients
def slow_loris(rig: Rig) -> Outcome:
    out = Outcome(
        "slow-loris clients",
        "20 clients trickle their headers and 10 their body "
        "(1 byte / 0.2 s); NETGPT_CLIENT_TIMEOUT_S=2",
    )
    with rig.gateway(out, client_timeout_s=2.0) as gw:
        host, port = "127.0.0.1", int(gw.url.rsplit(":", 1)[1])
        sockets: list[socket.socket] = []
        stop = threading.Event()
        head = (
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            b"content-length: 5000\r\n\r\n"
        )
        fates: dict[str, list[str]] = {"headers": [], "body": []}

        def trickle(kind: str) -> None:
            sock = socket.create_connection((host, port))
            opened = time.monotonic()
            sock.settimeout(0.2)
            sockets.append(sock)
            data = head if kind == "headers" else head + b"{" + b" " * 4000
            sent = len(head) if kind == "body" else 0
            if kind == "body":
                sock.sendall(data[:sent])
            fate = "still open at the end"
            while not stop.is_set():
                try:
                    sock.sendall(data[sent : sent + 1] or b" ")
                    sent += 1
                    reply = sock.recv(200)
                    first = reply.split(b"\r\n", 1)[0].decode(errors="replace")
                    fate = f"answered: {first}" if reply else "closed by the gateway"
                    waited.append(time.monotonic() - opened)
                    break
                except TimeoutError:
                    continue
                except OSError as exc:
                    fate = f"closed by the gateway ({type(exc).__name__})"
                    break
            fates[kind].append(fate)

        waited: list[float] = []
        threads = [
            threading.Thread(target=trickle, args=(k,)) for k in ["headers"] * 20 + ["body"] * 10
        ]
        for t in threads:
            t.start()
        time.sleep(0.5)
        served = [call(gw.url, body(), f"loris-{i:03d}", 5.0) for i in range(20)]
        time.sleep(max(0.0, 6.0 - sum(r.elapsed_s for r in served)))
        stop.set()
        for t in threads:
            t.join(5)
        for sock in sockets:
            sock.close()
    out.replies = served
    for kind, items in fates.items():
        groups: dict[str, int] = {}
        for fate in items:
            groups[fate] = groups.get(fate, 0) + 1
        out.notes.append(f"slow {kind}: " + ", ".join(f"{n}× {f}" for f, n in groups.items()))
    if waited:
        out.notes.append(
            f"the slow ones were answered {min(waited):.1f}–{max(waited):.1f} s after connecting"
        )
    out.check(
        "other clients served meanwhile: 20 × 200, none waiting on the slow ones (< 3 s)",
        all(r.status == 200 and r.elapsed_s < 3.0 for r in served),
    )
    out.check(
        "slow headers: 408 (envelope) after the deadline, connection closed",
        fates["headers"] == ["answered: HTTP/1.1 408 Request Timeout"] * 20,
    )
    out.check(
        "slow body: 408 after the deadline",
        fates["body"] == ["answered: HTTP/1.1 408 Request Timeout"] * 10,
    )
    _no_loss(out)
    return out


SCENARIOS = [
    Scenario("cloud_connect_timeout", cloud_connect_timeout),
    Scenario("cloud_read_timeout", cloud_read_timeout),
    Scenario("cloud_reset_before_response", cloud_reset_before_response),
    Scenario("cloud_reset_mid_stream", cloud_reset_mid_stream),
    Scenario("cloud_429_storm", cloud_429_storm),
    Scenario("cloud_5xx_burst", cloud_5xx_burst),
    Scenario("cloud_slow_link", cloud_slow_link),
    Scenario("edge_faults", edge_faults),
    Scenario("redis_restart", redis_restart),
    Scenario("slow_loris", slow_loris),
    Scenario("real_edge_restart", real_edge_restart),
]
