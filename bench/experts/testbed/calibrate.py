"""Calibration of one testbed expert: direct calls, then the profile the simulator and the gateway's
latency prior start from.

The calls go straight to the expert, shaped as the gateway's edge client shapes them, at
concurrency 1 and at its slot count, plus a few one-token **probes** (the same requests capped at
one output token: their wall time is the time to the first token). Two ways to a profile:

- **server timings** (llama-server): its ``timings`` field splits every call into prompt time and
  per-token decode time, so each coefficient is read off directly;
- **wall time** (vLLM, which reports no timings; any server): the client's wall time of each call
  and the token counts of its ``usage``, fitted by least squares as
  ``wall = ttft + prefill·p/1000 + tpot·(n − 1)`` (the form of ``ExpertProfile.service_s``) over the
  calls alone, the probes pinning the intercept; a coefficient the fit makes negative is dropped and
  the rest refitted. The slowdown with concurrency comes from the calls at the slot count:
  their wall time minus the fitted prompt part, per output token.
"""

from __future__ import annotations

import asyncio
import math
import random
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bench.experts.testbed.workload import request

PREFILL = "<tool_call>\\n"  # an env var holds a literal \n (EdgeSettings turns it into a newline)
DRAFT_MAX_TOKENS = 64  # a three-argument call is ~50 tokens; a truncated one is schema-invalid

ENGINES = ("llamacpp", "vllm")


@dataclass(frozen=True, slots=True)
class ExpertSpec:
    name: str
    model: str  # edge_worker.llamacpp.models name
    parallel: int  # llama-server --parallel, vLLM --max-num-seqs: the expert's slots
    engine: str = "llamacpp"  # llamacpp | vllm (also the gateway's flavour)


# ---------------------------------------------------------------------------------- the calls


def _point(concurrency: int, probe: bool, draft: Any) -> dict[str, Any]:
    t = draft.response.get("timings") or {}
    usage = draft.response.get("usage") or {}
    return {
        "concurrency": concurrency, "probe": probe, "wall_s": draft.latency_s,
        # the whole prompt and output (usage) and, from llama-server, what was computed
        # (timings: the rest of the prompt hit its prompt cache)
        "prompt_tokens": usage.get("prompt_tokens"), "completion_tokens": usage.get("completion_tokens"),
        "prompt_n": t.get("prompt_n"), "prompt_ms": t.get("prompt_ms"),
        "predicted_n": t.get("predicted_n"), "predicted_ms": t.get("predicted_ms"),
        "predicted_per_token_ms": t.get("predicted_per_token_ms"),
    }


async def calibrate_one(base_url: str, spec: ExpertSpec, n: int, seed: int,
                        draft_max_tokens: int = DRAFT_MAX_TOKENS) -> list[dict[str, Any]]:
    """Calls straight to one expert: ``n`` at concurrency 1, ``n`` at its slot count (in rounds),
    ``n`` one-token probes. A probe the server refuses is recorded with its error, not fitted."""
    from edge_worker.client import EdgeClient
    from gateway.config import EdgeSettings
    from gateway.errors import UpstreamError

    edge = EdgeSettings(base_url=base_url, model=spec.model, flavor=spec.engine,
                        call_prefill=PREFILL.replace("\\n", "\n"), draft_max_tokens=draft_max_tokens,
                        timeout_s=180)
    client = EdgeClient(edge)
    rng = random.Random(seed)
    points: list[dict[str, Any]] = []
    try:
        await client.draft(request(rng))  # warm-up
        for concurrency in sorted({1, spec.parallel}):
            for _ in range(max(n // concurrency, 1)):
                drafts = await asyncio.gather(*(client.draft(request(rng)) for _ in range(concurrency)))
                points += [_point(concurrency, False, d) for d in drafts]
        for _ in range(n):
            body = request(rng) | {"max_tokens": 1}
            try:
                points.append(_point(1, True, await client.draft(body)))
            except UpstreamError as exc:
                points.append({"concurrency": 1, "probe": True, "error": str(exc)[:200]})
    finally:
        await client.aclose()
    return points


# ---------------------------------------------------------------------------------- the fits


def _usable(p: dict[str, Any]) -> bool:
    return not p.get("error") and bool(p.get("wall_s")) and bool(p.get("prompt_tokens")) \
        and _output(p) is not None


def _output(p: dict[str, Any]) -> int | None:
    n = p.get("completion_tokens") or p.get("predicted_n")
    return int(n) if n else None


def has_timings(points: Sequence[dict[str, Any]]) -> bool:
    """Whether the server's own timings came with every (non-probe) call."""
    calls = [p for p in points if not p.get("probe") and not p.get("error")]
    return bool(calls) and all(p.get("predicted_per_token_ms") and p.get("prompt_ms") is not None for p in calls)


def _solve(rows: list[list[float]], y: list[float]) -> list[float] | None:
    """Least squares by the normal equations (a handful of columns); None when singular."""
    k = len(rows[0])
    a = [[sum(r[i] * r[j] for r in rows) for j in range(k)] + [sum(r[i] * v for r, v in zip(rows, y, strict=True))]
         for i in range(k)]
    for col in range(k):
        pivot = max(range(col, k), key=lambda r: abs(a[r][col]))
        if abs(a[pivot][col]) < 1e-12 * max(1.0, max(abs(a[i][i]) for i in range(k))):
            return None
        a[col], a[pivot] = a[pivot], a[col]
        for r in range(k):
            if r != col:
                f = a[r][col] / a[col][col]
                a[r] = [x - f * z for x, z in zip(a[r], a[col], strict=True)]
    return [a[i][k] / a[i][i] for i in range(k)]


@dataclass(frozen=True, slots=True)
class WallFit:
    """``wall = ttft_s + prefill_s_per_1k·p/1000 + tpot_s·(n − 1)`` at concurrency 1."""

    ttft_s: float
    prefill_s_per_1k: float
    tpot_s: float
    mape: float  # in-sample error of the fit on the points it was fitted to
    points: int

    def predict(self, prompt_tokens: float, output_tokens: float) -> float:
        return self.ttft_s + self.prefill_s_per_1k * prompt_tokens / 1000 + self.tpot_s * max(output_tokens - 1, 0)


def fit_wall(points: Sequence[dict[str, Any]]) -> WallFit:
    """The wall-time fit over the usable concurrency-1 points (calls and probes).

    Raises ``ValueError`` when the output lengths do not vary (no per-token time can be told
    from the fixed part) or the decode time comes out non-positive."""
    alone = [p for p in points if p.get("concurrency") == 1 and _usable(p)]
    outputs = {_output(p) for p in alone}
    if len(alone) < 3 or len(outputs) < 2:
        raise ValueError(f"wall-time fit: {len(alone)} usable calls alone with {len(outputs)} distinct "
                         "output lengths; need at least 3 calls and 2 lengths")
    features: dict[str, Callable[[dict[str, Any]], float]] = {
        "ttft": lambda _p: 1.0,
        "prefill": lambda p: p["prompt_tokens"] / 1000,
        "tpot": lambda p: max((_output(p) or 1) - 1, 0),
    }
    y = [float(p["wall_s"]) for p in alone]
    cols = list(features)
    coef: dict[str, float] = {}
    while cols:
        sol = _solve([[features[c](p) for c in cols] for p in alone], y)
        if sol is None:  # collinear (e.g. one prompt size): the per-prompt-token column goes first
            cols.remove("prefill" if "prefill" in cols else cols[0])
            continue
        coef = dict(zip(cols, sol, strict=True))
        worst = min(cols, key=lambda c: coef[c])
        if coef[worst] >= 0:
            break
        cols.remove(worst)
        coef = {}
    tpot = coef.get("tpot", 0.0)
    if tpot <= 0:
        raise ValueError("wall-time fit: no positive per-token time in the calls alone")
    fit = WallFit(coef.get("ttft", 0.0), coef.get("prefill", 0.0), tpot, 0.0, len(alone))
    errors = [abs(fit.predict(p["prompt_tokens"], _output(p) or 1) - p["wall_s"]) / p["wall_s"] for p in alone]
    return WallFit(fit.ttft_s, fit.prefill_s_per_1k, fit.tpot_s, statistics.fmean(errors), len(alone))


def profile_from(spec: ExpertSpec, points: list[dict[str, Any]], threads: int, method: str | None = None) -> Any:
    """An ``ExpertProfile`` for the simulator from the calibration points: from the server's
    timings when every call has them (``method`` None), else from the wall times."""
    method = method or ("timings" if has_timings(points) else "wall")
    return _from_timings(spec, points, threads) if method == "timings" else _from_wall(spec, points, threads)


def _profile(spec: ExpertSpec, threads: int, source: str, *, ttft_s: float, prefill_s_per_1k: float,
             tpot_s: float, tpot_slowdown_per_extra: float, noise_sigma: float) -> Any:
    from bench.experts.profiles import ExpertProfile

    return ExpertProfile(
        ttft_s=ttft_s, prefill_s_per_1k=prefill_s_per_1k, tpot_s=tpot_s,
        tpot_slowdown_per_extra=tpot_slowdown_per_extra, noise_sigma=noise_sigma,
        name=spec.name, model="assumed", hardware=f"this machine's CPU, {threads} thread(s), shared",
        flavor=spec.engine, slots=spec.parallel, context_limit=context_limit(spec),
        prefill_slowdown_per_extra=0.0, tpot_slowdown_quadratic=0.0, prefill_stall=0.0, measured=True,
        source=f"measured by the testbed's calibration ({source} of gateway-shaped calls)",
    )


def context_limit(spec: ExpertSpec) -> int:
    """Prompt + output tokens the expert holds: vLLM's --max-model-len, llama-server's per-slot context."""
    return 2048 if spec.engine == "vllm" else 4096


def _from_timings(spec: ExpertSpec, points: list[dict[str, Any]], threads: int) -> Any:
    calls = [p for p in points if not p.get("probe") and p.get("predicted_per_token_ms")]
    alone = [p for p in calls if p["concurrency"] == 1]
    full = [p for p in calls if p["concurrency"] == spec.parallel]
    tpot1 = statistics.median(p["predicted_per_token_ms"] for p in alone) / 1000
    tpotn = statistics.median(p["predicted_per_token_ms"] for p in full) / 1000
    slowdown = (tpotn / tpot1 - 1) / (spec.parallel - 1) if spec.parallel > 1 else 0.0
    # per token of the whole prompt, cache hits included: the gateway's model and the simulator
    # both see whole prompt sizes
    per_tok = statistics.median(p["prompt_ms"] / max(p["prompt_tokens"], 1) for p in alone)  # ms/token
    overhead = statistics.median(p["wall_s"] - (p["prompt_ms"] + p["predicted_ms"]) / 1000 for p in alone)
    logs = [math.log(p["predicted_per_token_ms"] / 1000 / tpot1) for p in alone]
    return _profile(spec, threads, "server timings", ttft_s=max(overhead, 1e-3), prefill_s_per_1k=per_tok,
                    tpot_s=tpot1, tpot_slowdown_per_extra=max(slowdown, 0.0),
                    noise_sigma=statistics.pstdev(logs) if len(logs) > 1 else 0.1)


def _from_wall(spec: ExpertSpec, points: list[dict[str, Any]], threads: int) -> Any:
    fit = fit_wall(points)
    calls = [p for p in points if not p.get("probe") and _usable(p)]
    alone = [p for p in calls if p["concurrency"] == 1]
    slowdown = 0.0
    if spec.parallel > 1:
        full = [(p["wall_s"] - fit.ttft_s - fit.prefill_s_per_1k * p["prompt_tokens"] / 1000)
                / max((_output(p) or 1) - 1, 1) for p in calls if p["concurrency"] == spec.parallel]
        if full:
            slowdown = (statistics.median(full) / fit.tpot_s - 1) / (spec.parallel - 1)
    logs = [math.log(p["wall_s"] / fit.predict(p["prompt_tokens"], _output(p) or 1)) for p in alone]
    return _profile(spec, threads, "client wall times and usage", ttft_s=max(fit.ttft_s, 1e-3),
                    prefill_s_per_1k=fit.prefill_s_per_1k, tpot_s=fit.tpot_s,
                    tpot_slowdown_per_extra=max(slowdown, 0.0),
                    noise_sigma=statistics.pstdev(logs) if len(logs) > 1 else 0.1)


def outputs_of(points: Sequence[dict[str, Any]]) -> list[int]:
    """The output lengths of the calls (probes excluded): the simulator's draft lengths."""
    return [n for p in points if not p.get("probe") and not p.get("error") and (n := _output(p))]
