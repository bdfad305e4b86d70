"""The real testbed: llama-server experts, a fake cloud, the real gateway, an open-loop load.

1. **Experts** (real): SmolLM2-135M under llama-server with ``--parallel 1`` and ``--parallel 2``
   (and, with ``--gemma``, Gemma-3-270M with ``--parallel 1``), one thread each.
2. **Calibration** (real, measured): a few requests straight to each expert, shaped as the
   gateway's edge client shapes them, at concurrency 1 and at its slot count: the server's own
   timings give each expert's profile for the simulator and the load's rate (a share of the
   summed capacity) and deadline.
3. **Runs**: for each placement policy, a fresh ``netgpt serve`` (real, own process) in front of
   the experts and a fake cloud (``bench.fakes``, a fixed delay: the one simulated part),
   and the same Poisson arrivals with an ``x-netgpt-deadline-ms`` header. Measured per request:
   status, route, reason, expert, latency; at the end the gateway's latency-model error per
   expert from ``/v1/router/state``.
4. **Kill**: the impact policy again, with one expert SIGKILLed half way: every request must
   still be answered.
5. **Prediction**: the simulator of ``bench.experts`` with the calibrated profiles, the same
   arrivals, deadline and policy, several seeds.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
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
from bench.experts.testbed.workload import Arrival, poisson, request

CLOUD_KEY = "sk-testbed-fake-cloud-key"
PREFILL = "<tool_call>\\n"  # an env var holds a literal \n (EdgeSettings turns it into a newline)
DRAFT_MAX_TOKENS = 64  # a three-argument call is ~50 tokens; a truncated one is schema-invalid


@dataclass(frozen=True, slots=True)
class ExpertSpec:
    name: str
    model: str  # edge_worker.llamacpp.models name
    parallel: int


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

    def experts(self) -> list[ExpertSpec]:
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


@dataclass(slots=True)
class PolicyRun:
    policy: str
    killed: str | None
    requests: list[Sent]
    state: dict[str, Any] = field(default_factory=dict)

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
            "latency_model": {
                name: {k: e["latency_model"][k] for k in ("observations", "mape", "recent_mape")}
                for name, e in experts.items()
            },
        }


def _pct(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    return values[min(int(q * len(values)), len(values) - 1)]


# ---------------------------------------------------------------------------------- calibration


async def _calibrate_one(base_url: str, spec: ExpertSpec, n: int, seed: int) -> list[dict[str, Any]]:
    """Calls straight to one expert, shaped as the gateway shapes them: at concurrency 1 and at
    its slot count. Each point: the server's timings and the wall time."""
    from edge_worker.client import EdgeClient
    from gateway.config import EdgeSettings

    edge = EdgeSettings(base_url=base_url, model=spec.model, flavor="llamacpp",
                        call_prefill=PREFILL.replace("\\n", "\n"), draft_max_tokens=DRAFT_MAX_TOKENS,
                        timeout_s=120)
    client = EdgeClient(edge)
    rng = random.Random(seed)
    points: list[dict[str, Any]] = []
    try:
        await client.draft(request(rng))  # warm-up
        for concurrency in sorted({1, spec.parallel}):
            for _ in range(max(n // concurrency, 1)):
                drafts = await asyncio.gather(*(client.draft(request(rng)) for _ in range(concurrency)))
                for d in drafts:
                    t = d.response.get("timings") or {}
                    usage = d.response.get("usage") or {}
                    points.append({
                        "concurrency": concurrency, "wall_s": d.latency_s,
                        # the whole prompt (usage) and what was computed (timings: the rest hit
                        # llama-server's prompt cache)
                        "prompt_tokens": usage.get("prompt_tokens"),
                        "prompt_n": t.get("prompt_n"), "prompt_ms": t.get("prompt_ms"),
                        "predicted_n": t.get("predicted_n"), "predicted_ms": t.get("predicted_ms"),
                        "predicted_per_token_ms": t.get("predicted_per_token_ms"),
                    })
    finally:
        await client.aclose()
    return points


def profile_from(spec: ExpertSpec, points: list[dict[str, Any]], threads: int) -> Any:
    """An ``ExpertProfile`` for the simulator from the calibration points (server timings)."""
    import math

    from bench.experts.profiles import ExpertProfile

    alone = [p for p in points if p["concurrency"] == 1 and p["predicted_per_token_ms"]]
    full = [p for p in points if p["concurrency"] == spec.parallel and p["predicted_per_token_ms"]]
    tpot1 = statistics.median(p["predicted_per_token_ms"] for p in alone) / 1000
    tpotn = statistics.median(p["predicted_per_token_ms"] for p in full) / 1000
    slowdown = (tpotn / tpot1 - 1) / (spec.parallel - 1) if spec.parallel > 1 else 0.0
    # per token of the whole prompt, cache hits included: the gateway's model and the simulator
    # both see whole prompt sizes
    per_tok = statistics.median(p["prompt_ms"] / max(p["prompt_tokens"], 1) for p in alone)  # ms/token
    overhead = statistics.median(
        p["wall_s"] - (p["prompt_ms"] + p["predicted_ms"]) / 1000 for p in alone
    )
    logs = [math.log(p["predicted_per_token_ms"] / 1000 / tpot1) for p in alone]
    return ExpertProfile(
        name=spec.name, model="assumed", hardware=f"this machine's CPU, {threads} thread(s), shared",
        flavor="llamacpp", slots=spec.parallel, context_limit=4096,
        ttft_s=max(overhead, 1e-3), prefill_s_per_1k=per_tok, prefill_slowdown_per_extra=0.0,
        tpot_s=tpot1, tpot_slowdown_per_extra=max(slowdown, 0.0), tpot_slowdown_quadratic=0.0,
        prefill_stall=0.0, noise_sigma=statistics.pstdev(logs) if len(logs) > 1 else 0.1,
        measured=True,
        source="measured by the testbed's calibration (server timings of gateway-shaped calls)",
    )


# ---------------------------------------------------------------------------------- load


async def drive(url: str, arrivals: Sequence[Arrival], deadline_ms: float,
                on_half: Callable[[], None] | None = None) -> list[Sent]:
    """Open loop: each request at its arrival time, whatever the earlier ones are doing."""
    out: list[Sent] = []
    headers = {"x-netgpt-deadline-ms": f"{deadline_ms:.0f}", "content-type": "application/json"}
    half = arrivals[len(arrivals) // 2].t_s if arrivals else 0.0
    timeout = aiohttp.ClientTimeout(total=180)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        started = time.monotonic()

        async def one(a: Arrival) -> None:
            sent = time.monotonic()
            try:
                async with session.post(url + "/v1/chat/completions", data=json.dumps(a.body),
                                        headers=headers) as resp:
                    await resp.read()
                    h = resp.headers
                    out.append(Sent(a.t_s, resp.status, time.monotonic() - sent, h.get("x-netgpt-route"),
                                    h.get("x-netgpt-reason"), h.get("x-netgpt-expert")))
            except (aiohttp.ClientError, TimeoutError) as exc:
                out.append(Sent(a.t_s, 0, time.monotonic() - sent, None, None, None, type(exc).__name__))

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
    return out


def _get_json(url: str) -> dict[str, Any]:
    import urllib.request

    with urllib.request.urlopen(url, timeout=10) as resp:
        doc: dict[str, Any] = json.loads(resp.read())
    return doc


def _latency_table(profile: Any) -> str:
    """``[expert.latency]``: the gateway's latency model starts from the calibrated profile, as
    an operator would configure it (the simulator starts from the same prior)."""
    prior = profile.prior()
    keys = ("ttft_s", "prefill_s_per_1k", "ttft_s_per_extra", "prefill_s_per_1k_per_extra",
            "tpot_s", "tpot_s_per_extra")
    return "[expert.latency]\n" + "".join(f"{k} = {getattr(prior, k):.6f}\n" for k in keys) + "\n"


def gateway_env(opts: Options, experts_file: Path, cloud_url: str, policy: str,
                expected_output: int, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NETGPT_")}
    env.update(
        NETGPT_EDGE_EXPERTS_FILE=str(experts_file),
        NETGPT_ROUTING_PLACEMENT_POLICY=policy,
        NETGPT_EDGE_CALL_PREFILL=PREFILL,
        NETGPT_EDGE_DRAFT_MAX_TOKENS=str(DRAFT_MAX_TOKENS),
        NETGPT_EDGE_TIMEOUT_S="120",
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
    from edge_worker.llamacpp.server import LlamaServer

    opts.out.mkdir(parents=True, exist_ok=True)
    logdir = opts.out / "logs"
    logdir.mkdir(exist_ok=True)
    specs = opts.experts()
    with ExitStack() as stack:
        progress("starting the llama-server experts")
        servers = {
            s.name: stack.enter_context(LlamaServer(s.model, parallel=s.parallel, threads=opts.threads,
                                                    alias=s.model, log_path=logdir / f"{s.name}.log"))
            for s in specs
        }
        progress("calibrating each expert (server timings)")
        points = {
            s.name: asyncio.run(_calibrate_one(servers[s.name].base_url, s, opts.calibration_requests, opts.seed))
            for s in specs
        }
        profiles = [profile_from(s, points[s.name], opts.threads) for s in specs]
        outputs = [p["predicted_n"] for pts in points.values() for p in pts if p["predicted_n"]]
        prompts = [p["prompt_tokens"] for pts in points.values() for p in pts if p["prompt_tokens"]]
        expected_output = round(statistics.fmean(outputs))
        prompt_tokens = round(statistics.median(prompts))
        capacity = sum(p.capacity_rps(prompt_tokens, expected_output) for p in profiles)
        rate = opts.utilisation * capacity
        alone = min(statistics.median(p["wall_s"] for p in pts if p["concurrency"] == 1) for pts in points.values())
        deadline_ms = opts.deadline_ms or round(2.5 * alone * 1000, -1)
        arrivals = poisson(rate, opts.duration_s, opts.seed)
        experts_file = opts.out / "experts.toml"
        experts_file.write_text("".join(
            f'[[expert]]\nname = "{s.name}"\nbase_url = "{servers[s.name].base_url}"\nmodel = "{s.model}"\n'
            f'flavor = "llamacpp"\nslots = {s.parallel}\ncontext_limit = 4096\n'
            + _latency_table(prof) for s, prof in zip(specs, profiles, strict=True)
        ))
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
                sent = asyncio.run(drive(url, arrivals, deadline_ms, kill))
                state = _get_json(url + "/v1/router/state")
            finally:
                gw.stop()
            runs.append(PolicyRun(policy, victim, sent, state))
    deadline_s = deadline_ms / 1000
    from bench.experts.testbed.predict import predict

    progress("simulating the same setting")
    predicted = {
        p: predict(profiles, arrivals, deadline_s, p, prompt_tokens, outputs, opts)
        for p in opts.policies
    }
    return {
        "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(opts).items()},
        "experts": [asdict(s) for s in specs],
        "calibration": points,
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
