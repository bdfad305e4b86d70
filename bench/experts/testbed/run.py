"""The real testbed: real edge experts, a fake cloud, the real gateway, an open-loop load.

1. **Experts** (real): by default SmolLM2-135M under llama-server with ``--parallel 1`` and
   ``--parallel 2`` (and, with ``--gemma``, Gemma-3-270M with ``--parallel 1``), one thread each;
   with ``engines`` (``--engines llamacpp,vllm``) one SmolLM2 expert per engine listed: llama-server
   (``--parallel N``) or vLLM's OpenAI server (``--max-num-seqs N``), each with N slots.
2. **Calibration** (real, measured; ``calibrate.py``): a few requests straight to each expert,
   shaped as the gateway's edge client shapes them, at concurrency 1 and at its slot count, and
   one-token probes: the server's own timings (llama-server) or, without them (vLLM), the client's
   wall times with the usage's token counts give each expert's profile for the simulator, the
   gateway's latency prior, and the load's rate (a share of the summed capacity) and deadline.
3. **Runs**: for each placement policy, a fresh ``netgpt serve`` (real, own process) in front of
   the experts and a fake cloud (``bench.fakes``, a fixed delay: the one simulated part),
   and the same Poisson arrivals with an ``x-netgpt-deadline-ms`` header. Measured per request:
   status, route, reason, expert, latency, output tokens; at the end the gateway's latency-model
   error per expert from ``/v1/router/state``.
4. **Kill**: the impact policy again, with the last expert SIGKILLed half way: every request must
   still be answered.
5. **Prediction**: the simulator of ``bench.experts`` with the calibrated profiles, the same
   arrivals, deadline and policy, several seeds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench.common import procs
from bench.experts.testbed.calibrate import (
    DRAFT_MAX_TOKENS,
    ENGINES,
    PREFILL,
    ExpertSpec,
    calibrate_one,
    outputs_of,
    profile_from,
)
from bench.experts.testbed.experts import calibration_fits, experts_toml, start_expert
from bench.experts.testbed.workload import Arrival, poisson

CLOUD_KEY = "sk-testbed-fake-cloud-key"


def parse_engines(text: str, default_slots: int = 2) -> tuple[tuple[str, int], ...]:
    """``"llamacpp,vllm:4"`` -> ``(("llamacpp", 2), ("vllm", 4))``; raises ``ValueError``."""
    out: list[tuple[str, int]] = []
    for item in (x.strip() for x in text.split(",")):
        if not item:
            continue
        engine, _, slots = item.partition(":")
        if engine not in ENGINES:
            raise ValueError(f"unknown engine {engine!r} (known: {', '.join(ENGINES)})")
        n = int(slots) if slots else default_slots
        if n < 1:
            raise ValueError(f"{item}: slots must be at least 1")
        out.append((engine, n))
    if not out:
        raise ValueError("no engine given")
    return tuple(out)


@dataclass(slots=True)
class Options:
    out: Path
    policies: tuple[str, ...] = ("impact", "least_loaded", "weighted", "round_robin")
    duration_s: float = 40.0
    utilisation: float = 0.8
    deadline_ms: float | None = None  # default: 2.5 x the fastest expert's median call alone
    threads: int = 1
    gemma: bool = False
    kill: bool = True
    seed: int = 0
    sim_seeds: int = 5
    cloud_delay_s: float = 1.5
    calibration_requests: int = 4
    draft_max_tokens: int = DRAFT_MAX_TOKENS  # vLLM's guided calls run longer than llama.cpp's prefilled ones
    engines: tuple[tuple[str, int], ...] = ()  # (engine, slots) per expert; () = the llama.cpp pair

    def experts(self) -> list[ExpertSpec]:
        if self.engines:
            counts = Counter(e for e, _ in self.engines)
            seen: Counter[str] = Counter()
            out = []
            for engine, slots in self.engines:
                seen[engine] += 1
                suffix = f"-{seen[engine]}" if counts[engine] > 1 else ""
                out.append(ExpertSpec(f"smol-{engine}{suffix}", "smollm2", slots, engine))
        else:
            out = [ExpertSpec("smol-p1", "smollm2", 1), ExpertSpec("smol-p2", "smollm2", 2)]
        if self.gemma:
            out.append(ExpertSpec("gemma-p1", "gemma3-270m", 1))
        return out


@dataclass(slots=True)
class Sent:
    t_s: float
    status: int
    latency_s: float
    route: str | None
    reason: str | None
    expert: str | None
    error: str | None = None
    output_tokens: int | None = None


@dataclass(slots=True)
class PolicyRun:
    policy: str
    killed: str | None
    requests: list[Sent]
    state: dict[str, Any] = field(default_factory=dict)
    gauges: list[dict[str, Any]] = field(default_factory=list)  # samples of the gateway's load view

    def summary(self, deadline_s: float) -> dict[str, Any]:
        done = [r for r in self.requests if r.status == 200]
        lat = sorted(r.latency_s for r in done)
        misses = sum(1 for r in self.requests if r.status != 200 or r.latency_s > deadline_s)
        experts = self.state.get("experts", {}).get("experts", {})
        return {
            "policy": self.policy,
            "killed": self.killed,
            "requests": len(self.requests),
            "answered": len(done),
            "lost": len(self.requests) - len(done),
            "slo_miss_rate": misses / max(len(self.requests), 1),
            "p50_s": _pct(lat, 0.5),
            "p99_s": _pct(lat, 0.99),
            "placements": dict(Counter(r.expert or "cloud" for r in done)),
            "reasons": dict(Counter(r.reason for r in done)),
            "per_expert": per_expert(self.requests, deadline_s),
            "gauges": gauge_summary(self.gauges),
            "latency_model": {
                name: {k: e["latency_model"][k] for k in ("observations", "mape", "recent_mape")}
                for name, e in experts.items()
            },
        }


def per_expert(requests: Sequence[Sent], deadline_s: float) -> dict[str, dict[str, Any]]:
    """Per drafting expert (``cloud`` for the rest): answers, client-side latency, and throughput
    over the run's span (first arrival to last answer): answers and output tokens per second."""
    done = [r for r in requests if r.status == 200]
    if not done:
        return {}
    span = max(r.t_s + r.latency_s for r in requests) - min(r.t_s for r in requests)
    out: dict[str, dict[str, Any]] = {}
    for name in sorted({r.expert or "cloud" for r in done}):
        mine = [r for r in done if (r.expert or "cloud") == name]
        lat = sorted(r.latency_s for r in mine)
        tokens = [r.output_tokens for r in mine if r.output_tokens is not None]
        out[name] = {
            "answered": len(mine),
            "p50_s": _pct(lat, 0.5), "p99_s": _pct(lat, 0.99), "mean_s": statistics.fmean(lat),
            "slo_miss_rate": sum(x > deadline_s for x in lat) / len(lat),
            "rps": len(mine) / span if span > 0 else None,
            "output_tokens_per_s": sum(tokens) / span if span > 0 and tokens else None,
        }
    return out


def _pct(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    return values[min(int(q * len(values)), len(values) - 1)]


# ---------------------------------------------------------------------------------- load


async def drive(url: str, arrivals: Sequence[Arrival], deadline_ms: float,
                on_half: Callable[[], None] | None = None,
                gauges: list[dict[str, Any]] | None = None) -> list[Sent]:
    """Open loop: each request at its arrival time, whatever the earlier ones are doing. With
    ``gauges``, the gateway's view of each expert's load (``/v1/router/state``) is sampled into it
    every second while the load runs."""
    out: list[Sent] = []
    headers = {"x-netgpt-deadline-ms": f"{deadline_ms:.0f}", "content-type": "application/json"}
    half = arrivals[len(arrivals) // 2].t_s if arrivals else 0.0
    timeout = aiohttp.ClientTimeout(total=max(180.0, 2.5 * deadline_ms / 1000))
    async with aiohttp.ClientSession(timeout=timeout) as session:
        started = time.monotonic()

        async def one(a: Arrival) -> None:
            sent = time.monotonic()
            try:
                async with session.post(url + "/v1/chat/completions", data=json.dumps(a.body),
                                        headers=headers) as resp:
                    raw = await resp.read()
                    h = resp.headers
                    out.append(Sent(a.t_s, resp.status, time.monotonic() - sent, h.get("x-netgpt-route"),
                                    h.get("x-netgpt-reason"), h.get("x-netgpt-expert"),
                                    output_tokens=_output_tokens(raw) if resp.status == 200 else None))
            except (aiohttp.ClientError, TimeoutError) as exc:
                out.append(Sent(a.t_s, 0, time.monotonic() - sent, None, None, None, type(exc).__name__))

        done = asyncio.Event()
        sampler = asyncio.create_task(_sample(session, url, done, gauges)) if gauges is not None else None
        tasks = []
        halved = on_half is None
        for a in arrivals:
            delay = a.t_s - (time.monotonic() - started)
            if delay > 0:
                await asyncio.sleep(delay)
            if not halved and a.t_s >= half:
                assert on_half is not None
                on_half()
                halved = True
            tasks.append(asyncio.create_task(one(a)))
        await asyncio.gather(*tasks)
        done.set()
        if sampler is not None:
            await sampler
    return out


async def _sample(session: aiohttp.ClientSession, url: str, done: asyncio.Event,
                  into: list[dict[str, Any]], every_s: float = 1.0) -> None:
    while not done.is_set():
        try:
            async with session.get(url + "/v1/router/state") as resp:
                doc = await resp.json()
            into.append({name: e["load"] for name, e in doc["experts"]["experts"].items()})
        except (aiohttp.ClientError, TimeoutError, KeyError, ValueError):
            pass
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), every_s)


def gauge_summary(samples: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per expert, over the samples of the gateway's view: how often the server's gauges were
    fresh (scraped, not stale), and the most running, waiting and in flight seen."""
    out: dict[str, dict[str, Any]] = {}
    for name in sorted({n for s in samples for n in s}):
        seen = [s[name] for s in samples if name in s]
        fresh = [x for x in seen if not x.get("stale") and x.get("running") is not None]
        kv = [x["kv_usage"] for x in fresh if x.get("kv_usage") is not None]
        out[name] = {
            "samples": len(seen), "fresh_share": len(fresh) / len(seen),
            "max_running": max((x["running"] for x in fresh), default=None),
            "max_waiting": max((x["waiting"] for x in fresh if x.get("waiting") is not None), default=None),
            "max_in_flight": max(x.get("in_flight", 0) for x in seen),
            "mean_kv_usage": statistics.fmean(kv) if kv else None,
        }
    return out


def _output_tokens(raw: bytes) -> int | None:
    try:
        n = json.loads(raw).get("usage", {}).get("completion_tokens")
    except (ValueError, AttributeError):
        return None
    return n if isinstance(n, int) else None


def _get_json(url: str) -> dict[str, Any]:
    import urllib.request

    with urllib.request.urlopen(url, timeout=10) as resp:
        doc: dict[str, Any] = json.loads(resp.read())
    return doc


def gateway_env(opts: Options, experts_file: Path, cloud_url: str, policy: str,
                expected_output: int, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NETGPT_")}
    env.update(
        NETGPT_EDGE_EXPERTS_FILE=str(experts_file),
        NETGPT_ROUTING_PLACEMENT_POLICY=policy,
        NETGPT_EDGE_CALL_PREFILL=PREFILL,
        NETGPT_EDGE_DRAFT_MAX_TOKENS=str(opts.draft_max_tokens),
        # a draft may take as long as the deadline allows (vLLM on a contended CPU: minutes)
        NETGPT_EDGE_TIMEOUT_S=f"{max(120.0, 1.5 * (opts.deadline_ms or 0) / 1000):.0f}",
        NETGPT_CLOUD_BASE_URL=cloud_url + "/v1",
        NETGPT_CLOUD_MODEL="cloud-fake",
        NETGPT_CLOUD_API_KEY=CLOUD_KEY,
        NETGPT_NETWORK_PROBES_ENABLED="false",
        NETGPT_ROUTING_CLOUD_COMPUTE_S=f"{opts.cloud_delay_s}",
        # tau = 0: a valid draft is always kept, so the runs compare placement, not the score
        NETGPT_ROUTING_Q_CLOUD="0",
        NETGPT_ROUTING_EXPECTED_OUTPUT_TOKENS=str(expected_output),
        NETGPT_DATASET_ENABLED="false",
        NETGPT_LOG_REQUESTS="false",
        NETGPT_DATA_DIR=str(data_dir),
    )
    return env


def run(opts: Options, progress: Callable[[str], None] = lambda _msg: None) -> dict[str, Any]:
    opts.out.mkdir(parents=True, exist_ok=True)
    logdir = opts.out / "logs"
    logdir.mkdir(exist_ok=True)
    specs = opts.experts()
    with ExitStack() as stack:
        servers = {}
        for s in specs:  # one after the other: a vLLM start takes the box's CPU for a minute
            progress(f"starting expert {s.name} ({s.engine}, {s.parallel} slot(s))")
            servers[s.name] = stack.enter_context(start_expert(s, opts.threads, logdir))
        points = {}
        for s in specs:
            progress(f"calibrating {s.name}")
            points[s.name] = asyncio.run(calibrate_one(servers[s.name].base_url, s, opts.calibration_requests,
                                                       opts.seed, opts.draft_max_tokens))
        profiles = [profile_from(s, points[s.name], opts.threads) for s in specs]
        outputs = [n for pts in points.values() for n in outputs_of(pts)]
        prompts = [p["prompt_tokens"] for pts in points.values() for p in pts if p.get("prompt_tokens")]
        expected_output = round(statistics.fmean(outputs))
        prompt_tokens = round(statistics.median(prompts))
        capacity = sum(p.capacity_rps(prompt_tokens, expected_output) for p in profiles)
        rate = opts.utilisation * capacity
        alone = min(statistics.median(p["wall_s"] for p in pts if p["concurrency"] == 1 and not p.get("probe")
                                      and p.get("wall_s")) for pts in points.values())
        deadline_ms = opts.deadline_ms or round(2.5 * alone * 1000, -1)
        arrivals = poisson(rate, opts.duration_s, opts.seed)
        experts_file = opts.out / "experts.toml"
        experts_file.write_text(experts_toml(specs, {n: srv.base_url for n, srv in servers.items()}, profiles))
        cloud_port = procs.free_port()
        cloud = procs.start("cloud-fake", [
            sys.executable, "-m", "bench.fakes", "--port", str(cloud_port), "--name", "cloud",
            "--model", "cloud-fake", "--flavor", "openai", "--delay-s", str(opts.cloud_delay_s), "--no-record",
        ], cpus=None, logdir=logdir)
        stack.callback(cloud.stop)
        cloud_url = f"http://127.0.0.1:{cloud_port}"
        procs.wait_ready(cloud, cloud_url + "/v1/models")

        runs: list[PolicyRun] = []
        plan: list[tuple[str, str | None]] = [(p, None) for p in opts.policies]
        if opts.kill:
            plan.append(("impact", specs[-1].name))
        for policy, victim in plan:
            progress(f"policy {policy}" + (f", {victim} killed half way" if victim else ""))
            port = procs.free_port()
            data_dir = Path(tempfile.mkdtemp(prefix="testbed-var-", dir=opts.out))
            gw = procs.start(f"gateway-{policy}{'-kill' if victim else ''}", [
                sys.executable, "-m", "gateway.cli", "serve", "--port", str(port),
            ], cpus=None, logdir=logdir, env=gateway_env(opts, experts_file, cloud_url, policy,
                                                          expected_output, data_dir))
            url = f"http://127.0.0.1:{port}"
            try:
                procs.wait_ready(gw, url + "/healthz")
                kill = servers[victim].kill if victim else None
                gauges: list[dict[str, Any]] = []
                sent = asyncio.run(drive(url, arrivals, deadline_ms, kill, gauges))
                state = _get_json(url + "/v1/router/state")
            finally:
                gw.stop()
            runs.append(PolicyRun(policy, victim, sent, state, gauges))
    deadline_s = deadline_ms / 1000
    from bench.experts.testbed.predict import predict

    progress("simulating the same setting")
    predicted = {
        p: predict(profiles, arrivals, deadline_s, p, prompt_tokens, outputs, opts)
        for p in opts.policies
    }
    return {
        "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(opts).items()},
        "load_average": os.getloadavg(),
        "experts": [asdict(s) for s in specs],
        "calibration": points,
        "calibration_fit": calibration_fits(specs, points),
        "profiles": [p.as_dict() for p in profiles],
        "rate_rps": rate,
        "capacity_rps": capacity,
        "deadline_ms": deadline_ms,
        "prompt_tokens": prompt_tokens,
        "expected_output_tokens": expected_output,
        "arrivals": len(arrivals),
        "runs": [r.summary(deadline_s) for r in runs],
        "predicted": predicted,
    }
