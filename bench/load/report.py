"""Figures of a load run: medians over interleaved rounds, the derived overheads and ratios, the
checks against the issue's targets, and the printed table.

Pure functions of the measurements (no processes, no clock), so the tests can feed them numbers.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

from bench.load import configs
from bench.load.loadgen import FixedRate, Saturation

DIRECT, DIRECT_CLOUD, LITELLM = "direct", "direct-cloud", "litellm"
EDGE, FALLBACK = "gateway-edge", "gateway-fallback"
BASE_EDGE, BASE_FALLBACK = "baseline-edge", "baseline-fallback"  # --baseline-src: another tree
BASE_PREFIX = "baseline-"  # with --baseline-configs: that tree's operator configurations too
LABELS = {
    DIRECT: "upstream direct (nginx, edge answer)",
    DIRECT_CLOUD: "upstream direct (nginx, cloud answer)",
    LITELLM: "LiteLLM proxy, 1 worker",
    EDGE: "gateway, edge path",
    FALLBACK: "gateway, fallback path (edge invalid -> cloud)",
    BASE_EDGE: "baseline tree, edge path",
    BASE_FALLBACK: "baseline tree, fallback path",
    **configs.LABELS,
}


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def summarize_saturation(rounds: Mapping[str, Sequence[Saturation]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, runs in rounds.items():
        per_request = [r.cpu_us_per_request for r in runs if r.cpu_us_per_request is not None]
        out[name] = {
            "rps": median([r.rps for r in runs]),
            # CPU-normalised: what one fully available core would answer, immune to other jobs
            "cpu_us_per_request": median(per_request) if per_request else None,
            "rps_per_core": 1e6 / median(per_request) if per_request else None,
            "p50_ms": median([r.p50_ms for r in runs]),
            "p99_ms": median([r.p99_ms for r in runs]),
            "requests": sum(r.requests for r in runs),
            "errors": sum(r.errors for r in runs),
            "rounds": [asdict(r) for r in runs],
        }
    return out


def summarize_rate(rounds: Mapping[str, Sequence[FixedRate]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, runs in rounds.items():
        # openloop reports -1 when no request completed in the measured window (a server far
        # behind the schedule): such a round has no latency to take a median of
        timed = [r for r in runs if r.p50_ms >= 0]
        out[name] = {
            "achieved_rps": median([r.achieved_rps for r in runs]),
            "p50_ms": median([r.p50_ms for r in timed]),
            "p90_ms": median([r.p90_ms for r in timed]),
            "p99_ms": median([r.p99_ms for r in timed]),
            "rounds_without_latency": len(runs) - len(timed),
            "completed": sum(r.completed for r in runs),
            "errors": sum(r.errors for r in runs),
            "rounds": [asdict(r) for r in runs],
        }
    return out


def summarize_workers(per: Mapping[str, Sequence[Saturation]], connections: int) -> dict[str, Any]:
    """1 vs 2 workers: RPS ratio, and CPU per request (equal: the second worker costs nothing
    extra; the rest of the gap is the load generator and nginx sharing the two cores)."""
    one = median([r.rps for r in per["1"]])
    two = median([r.rps for r in per["2"]])
    cost = {k: median([r.cpu_us_per_request for r in runs if r.cpu_us_per_request is not None] or [float("nan")])
            for k, runs in per.items()}
    cores = {k: median([r.cpu_s / (r.requests / r.rps) for r in runs if r.cpu_s is not None and r.rps] or [float("nan")])
             for k, runs in per.items()}
    return {
        "1": one, "2": two, "ratio": two / one if one else float("nan"), "connections": connections,
        "cpu_us_per_request": cost, "gateway_cores_busy": cores,
        "rounds": {k: [asdict(r) for r in runs] for k, runs in per.items()},
    }


def derive(
    saturation: Mapping[str, Mapping[str, Any]], rates: Mapping[str, Mapping[str, Mapping[str, Any]]],
    routes: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Overheads over the direct call and ratios to LiteLLM. An operator configuration's
    overhead is over the direct edge call, or over both calls where it routed to the cloud
    (``routes``: the route each target answered its check with)."""
    routes = routes or {}
    named = [*configs.ALL, *(BASE_PREFIX + n for n in configs.ALL)]
    cloud_routed = {n for n in named if routes.get(n) == "cloud"}
    out: dict[str, Any] = {}
    lite = saturation.get(LITELLM, {}).get("rps")
    lite_core = saturation.get(LITELLM, {}).get("rps_per_core")
    for name in (EDGE, FALLBACK):
        if name in saturation and lite:
            out[f"{name}_rps_over_litellm"] = saturation[name]["rps"] / lite
        if name in saturation and lite_core and saturation[name].get("rps_per_core"):
            out[f"{name}_rps_per_core_over_litellm"] = saturation[name]["rps_per_core"] / lite_core
    for rate, by_target in rates.items():
        direct = by_target.get(DIRECT)
        cloud = by_target.get(DIRECT_CLOUD)
        row: dict[str, float] = {}
        for name in (EDGE, BASE_EDGE, LITELLM, *(n for n in named if n not in cloud_routed)):
            if direct and name in by_target:
                row[f"{name}_added_p50_ms"] = by_target[name]["p50_ms"] - direct["p50_ms"]
                row[f"{name}_added_p99_ms"] = by_target[name]["p99_ms"] - direct["p99_ms"]
        for name in (FALLBACK, BASE_FALLBACK, *sorted(cloud_routed)):
            if direct and cloud and name in by_target:
                both_p50 = direct["p50_ms"] + cloud["p50_ms"]
                both_p99 = direct["p99_ms"] + cloud["p99_ms"]
                row[f"{name}_added_p50_ms"] = by_target[name]["p50_ms"] - both_p50
                row[f"{name}_added_p99_ms"] = by_target[name]["p99_ms"] - both_p99
        if row:
            out[f"at_{rate}"] = row
    for base, names in ((EDGE, configs.ALL), (BASE_EDGE, [BASE_PREFIX + n for n in configs.ALL])):
        no_keys = saturation.get(base, {}).get("cpu_us_per_request")
        for name in names:
            cost = saturation.get(name, {}).get("cpu_us_per_request")
            if cost is not None and no_keys is not None:
                out[f"{name}_added_cpu_us"] = cost - no_keys
    return out


def checks(result: Mapping[str, Any], latency_rate: str) -> list[dict[str, Any]]:
    """The issue's targets, each with the measured value and whether it is met."""
    sat = result.get("saturation", {})
    derived = result.get("derived", {})
    at = derived.get(f"at_{latency_rate}", {})
    rows: list[tuple[str, float | None, str, bool | None]] = []

    def add(name: str, value: float | None, goal: str, ok: bool | None) -> None:
        rows.append((name, value, goal, ok))

    ratio = derived.get(f"{EDGE}_rps_over_litellm")
    add("edge path RPS / LiteLLM RPS (one core)", ratio, ">= 20", None if ratio is None else ratio >= 20)
    core = sat.get(EDGE, {}).get("rps_per_core")
    add("edge path RPS per core (CPU-normalised)", core, ">= 4000", None if core is None else core >= 4000)
    fb_core = sat.get(FALLBACK, {}).get("rps_per_core")
    add("fallback path RPS per core (CPU-normalised)", fb_core, ">= 2000", None if fb_core is None else fb_core >= 2000)
    keys = derived.get(f"{configs.KEYS_REDIS}_added_cpu_us")
    add("keys + Redis limits: CPU us/request over no keys", keys, "<= 50", None if keys is None else keys <= 50)
    p50 = at.get(f"{EDGE}_added_p50_ms")
    add(f"edge added p50 at {latency_rate} req/s (ms)", p50, "<= 0.6", None if p50 is None else p50 <= 0.6)
    p99 = at.get(f"{EDGE}_added_p99_ms")
    add(f"edge added p99 at {latency_rate} req/s (ms)", p99, "<= 2", None if p99 is None else p99 <= 2)
    fb = at.get(f"{FALLBACK}_added_p50_ms")
    add(f"fallback p50 over both upstream calls at {latency_rate} req/s (ms)", fb, "<= 2", None if fb is None else fb <= 2)
    workers = result.get("workers", {}).get("ratio")
    add("2 workers / 1 worker RPS (shared state on)", workers, ">= 1.8", None if workers is None else workers >= 1.8)
    soak = result.get("soak")
    if soak:
        add("soak errors", soak["errors"], "0", soak["errors"] == 0)
        add("soak RSS growth after warm-up (%)", soak["rss_growth_pct"], "< 5", soak["rss_growth_pct"] < 5)
        if "rss_growth_second_half_pct" in soak:
            growth = soak["rss_growth_second_half_pct"]
            add("soak RSS growth over the second half (%)", growth, "< 5", growth < 5)
        if "fd_max_second_half" in soak:
            fds = soak["fd_max_second_half"] - soak["fd_max_first_half"]
            add("soak file descriptors, highest: second half - first", fds, "flat (<= 2)", fds <= 2)
    return [{"check": n, "value": v, "goal": g, "ok": ok} for n, v, g, ok in rows]


def _label(result: Mapping[str, Any], name: str) -> str:
    base = name.removeprefix(BASE_PREFIX) if name not in LABELS else name
    label = LABELS.get(name) or ("baseline tree: " + LABELS[base] if base in LABELS else name)
    route = result.get("meta", {}).get("routes", {}).get(name)
    return f"{label} ({route})" if base == configs.VERIFIER and route else label


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _num(value: float | None, fmt: str = ".2f") -> str:
    return "-" if value is None or value != value else format(value, fmt)


def table(result: Mapping[str, Any]) -> str:
    """The printed report: saturation, fixed rates, scaling, soak, targets."""
    meta = result.get("meta", {})
    lines = [
        f"NetGPT load benchmark  body {meta.get('body_bytes')} B  upstream {meta.get('upstream')}  "
        f"pinning {meta.get('pinning')}  load avg before {meta.get('loadavg_before')}, after {meta.get('loadavg_after')}",
        *([f"LiteLLM left out: {meta['litellm_error'].splitlines()[0]}"] if meta.get("litellm_error") else []),
        "",
        f"Saturation: wrk, {meta.get('connections')} connections, {meta.get('rounds')} interleaved rounds "
        f"of {meta.get('saturation_s')} s (median)",
        f"{'target':48}{'RPS':>10}{'x LiteLLM':>11}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}"
        f"{'CPU us/req':>12}{'RPS/core':>10}",
    ]
    sat = result.get("saturation", {})
    lite = sat.get(LITELLM, {}).get("rps")
    for name, row in sat.items():
        ratio = row["rps"] / lite if lite else None
        lines.append(
            f"{_label(result, name):48}{row['rps']:10.0f}{_num(ratio, '.1f'):>11}"
            f"{row['p50_ms']:9.2f}{row['p99_ms']:9.2f}{row['errors']:8d}"
            f"{_num(row.get('cpu_us_per_request'), '.0f'):>12}{_num(row.get('rps_per_core'), '.0f'):>10}"
        )
    lines.append(
        "  RPS/core = 1e6 / (server CPU us per request): the rate with the core to itself; "
        "load avg shows what else ran"
    )
    added = [(n, result.get("derived", {}).get(f"{n}_added_cpu_us"))
             for n in (*configs.ALL, *(BASE_PREFIX + c for c in configs.ALL))]
    if any(v is not None for _, v in added):
        lines.append("  CPU us/request over the edge path without keys: " + ", ".join(
            f"{n} {v:+.0f}" for n, v in added if v is not None))
    for rate, by_target in result.get("fixed_rate", {}).items():
        at = result.get("derived", {}).get(f"at_{rate}", {})
        lines += [
            "",
            f"Fixed rate {rate} req/s: openloop (open loop, latency from the scheduled send), "
            f"{meta.get('rounds')} rounds of {meta.get('rate_s')} s",
            f"{'target':48}{'done/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'+p50 ms':>9}{'+p99 ms':>9}{'errors':>8}",
        ]
        for name, row in by_target.items():
            lines.append(
                f"{_label(result, name):48}{row['achieved_rps']:8.0f}{row['p50_ms']:9.3f}{row['p99_ms']:9.3f}"
                f"{_num(at.get(f'{name}_added_p50_ms'), '.3f'):>9}{_num(at.get(f'{name}_added_p99_ms'), '.3f'):>9}"
                f"{row['errors']:8d}"
                + (f"  {row['rounds_without_latency']}/{len(row.get('rounds', []))} rounds fell behind"
                   if row.get("rounds_without_latency") else "")
            )
        lines.append("  (+ = over the direct edge call; fallback: over direct edge + direct cloud; a round that "
                     "fell behind completed nothing in its measured window: no latency)")
    workers = result.get("workers")
    if workers and "error" in workers:
        lines += ["", f"Workers: not measured ({workers['error'].splitlines()[0]})"]
    elif workers:
        lines += [
            "",
            f"Workers (gateway edge path, {workers.get('config', 'no keys')}; wrk -c{workers.get('connections')} "
            "and nginx on the same 2 cores, unpinned):",
            f"  1 worker {workers['1']:.0f} RPS, 2 workers {workers['2']:.0f} RPS, ratio {workers['ratio']:.2f}",
            "  gateway cores busy {} / {}, CPU us per request {} / {}".format(
                _num(workers.get("gateway_cores_busy", {}).get("1")), _num(workers.get("gateway_cores_busy", {}).get("2")),
                _num(workers.get("cpu_us_per_request", {}).get("1"), ".0f"),
                _num(workers.get("cpu_us_per_request", {}).get("2"), ".0f"),
            ),
        ]
    soak = result.get("soak")
    if soak:
        from bench.load.soak import soak_lines  # soak imports this module

        lines += ["", *soak_lines(soak, soak.get("path", "edge"))]
    lines += ["", f"{'target (issue)':62}{'value':>10}  {'goal':14}ok"]
    for row in result.get("checks", []):
        ok = {True: "yes", False: "NO", None: "-"}[row["ok"]]
        lines.append(f"{row['check']:62}{_num(row['value']):>10}  {row['goal']:14}{ok}")
    return "\n".join(lines)
