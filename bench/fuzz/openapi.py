"""Schemathesis against the gateway's own /openapi.json: every documented operation, positive and
negative cases (coverage and fuzzing phases), every check schemathesis has plus
``openai_error_envelope`` (bench/fuzz/st_hooks.py).

    python -m bench.fuzz openapi --max-examples 300 --seeds 1-10   # the larger run (docs/fuzzing.md)

What must hold: no 500, every status documented for its operation, every body as documented,
every error OpenAI's envelope, 405s name the allowed methods, unauthenticated calls get 401.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.fuzz.stack import CLIENT_KEY, gateway_stack

ROOT = Path(__file__).resolve().parents[2]


def run_schemathesis(
    url: str, out: Path, *, max_examples: int, seed: int, workers: int = 2, max_time_s: int | None = None
) -> dict[str, Any]:
    """Run ``st run`` against ``url``; returns its JSON report plus the console tail."""
    out = out.resolve()
    report = out / "schemathesis.json"
    cmd = [
        sys.executable, "-m", "schemathesis.cli", "run", f"{url}/openapi.json",
        "--checks", "all", "--exclude-checks", "positive_data_acceptance",
        "--mode", "all", "--phases", "examples,coverage,fuzzing",
        "--max-examples", str(max_examples), "--seed", str(seed), "--workers", str(workers),
        "--header", f"Authorization: Bearer {CLIENT_KEY}",
        "--request-timeout", "30", "--suppress-health-check", "too_slow,filter_too_much",
        "--report", "json", "--report-json-path", str(report), "--no-color",
    ]
    if max_time_s is not None:
        cmd += ["--max-time", str(max_time_s)]
    env = dict(os.environ)
    env["SCHEMATHESIS_HOOKS"] = "bench.fuzz.st_hooks"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    started = time.monotonic()
    # cwd: schemathesis keeps a .schemathesis/ cache in its working directory
    proc = subprocess.run(cmd, cwd=out, env=env, capture_output=True, text=True, check=False)
    (out / "schemathesis.txt").write_text(proc.stdout + proc.stderr)
    if not report.exists():
        raise RuntimeError(f"schemathesis wrote no report (exit {proc.returncode}):\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(report.read_text())
    result["wall_s"] = round(time.monotonic() - started, 1)
    result["console_tail"] = "\n".join((proc.stdout + proc.stderr).splitlines()[-60:])
    return result


def server_errors_logged(logdir: Path) -> int:
    """Lines the gateway logged for an unhandled error (each one a 500 it answered)."""
    log = logdir / "gateway.log"
    return sum("unhandled error" in line for line in log.read_text(errors="replace").splitlines())


def _merge_rates(total: dict[str, Any], rates: dict[str, Any]) -> None:
    for op, phases in rates.items():
        for phase, counts in phases.items():
            slot = total.setdefault(op, {}).setdefault(phase, {})
            for name, value in counts.items():
                slot[name] = slot.get(name, 0) + value


def run(
    out: Path, *, max_examples: int, seeds: Sequence[int], workers: int = 2, max_time_s: int | None = None
) -> dict[str, Any]:
    """Start the stack, fuzz it once per seed (a seed's cases saturate at ~1000: the coverage
    phase is deterministic and hypothesis stops finding new inputs), summarise."""
    runs: list[dict[str, Any]] = []
    retried: list[int] = []
    with gateway_stack(out / "stack") as stack:
        for seed in seeds:
            seed_out = out / f"seed-{seed}"
            seed_out.mkdir(parents=True, exist_ok=True)
            report = run_schemathesis(
                stack.url, seed_out, max_examples=max_examples, seed=seed, workers=workers,
                max_time_s=max_time_s,
            )
            if report["errors"] and not report["failures"]:
                # an error of schemathesis itself (seen: CPython 3.11's "AST constructor
                # recursion depth mismatch" inside its generator), not an answer of the
                # gateway: the seed runs once more, and a second error counts
                retried.append(seed)
                report = run_schemathesis(
                    stack.url, seed_out, max_examples=max_examples, seed=seed, workers=workers,
                    max_time_s=max_time_s,
                )
            runs.append(report)
    rates: dict[str, Any] = {}
    for report in runs:
        _merge_rates(rates, report.get("valid_rates", {}))
    summary = {
        "operations_tested": min(r["operations"]["tested"] for r in runs),
        "operations_total": max(r["operations"]["total"] for r in runs),
        "cases": sum(r["test_cases"]["generated"] for r in runs),
        "cases_per_seed": {r["seed"]: r["test_cases"]["generated"] for r in runs},
        "cases_with_failures": sum(r["test_cases"]["with_failures"] for r in runs),
        "failures": [f | {"seed": r["seed"]} for r in runs for f in r["failures"]],
        "errors": [e for r in runs for e in r["errors"]],
        "unhandled_errors_logged": server_errors_logged(out / "stack"),
        "seeds": list(seeds),
        "seeds_retried_after_a_tool_error": retried,
        "max_examples": max_examples,
        "wall_s": round(sum(r["wall_s"] for r in runs), 1),
        "valid_rates": rates,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    summary["console_tail"] = "\n\n".join(r["console_tail"] for r in runs if r["failures"] or r["errors"])
    return summary


def per_operation(summary: dict[str, Any]) -> list[tuple[str, int, int]]:
    """(operation, accepted, rejected) over both phases, from the report's valid rates."""
    rows = []
    for op, phases in sorted(summary["valid_rates"].items()):
        accepted = sum(p.get("accepted", 0) for p in phases.values())
        rejected = sum(p.get("rejected", 0) for p in phases.values())
        rows.append((op, accepted, rejected))
    return rows
