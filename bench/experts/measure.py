"""Measure an expert profile from the real llama-server on this machine.

    python -m bench.experts.measure [--model smollm2] [--threads 2] [--reps 3] [--out FILE]

Starts llama-server (``edge_worker.llamacpp.server.LlamaServer``) with ``--parallel 4``, then for
each concurrency 1..4 and each prompt size sends that many chat completions at once (distinct
random prompts, prompt cache off, ``max_tokens`` fixed, ``ignore_eos`` so every answer has the
same length) and records each request's prompt time and per-token decode time from the
server's own ``timings`` and its wall time. A least-squares fit gives the profile's
coefficients (``bench/experts/profiles/<name>.json``, with the raw points and how they were
taken). CPU-bound: the figures depend on what else runs on the machine; the file says when
and with how many threads it was measured.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import threading
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.experts.profiles import PROFILE_DIR

WORDS = (
    "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november "
    "oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu"
).split()


def _prompt(rng: random.Random, words: int) -> str:
    body = " ".join(rng.choice(WORDS) for _ in range(words))
    return f"Repeat the following list back in order: {body}"


def _one(url: str, prompt: str, max_tokens: int, out: list[dict[str, Any]]) -> None:
    body = json.dumps(
        {
            "model": "m",
            "messages": [{"role": "user", "content": prompt}],
            "max_tokens": max_tokens,
            "temperature": 0,
            "cache_prompt": False,
            "ignore_eos": True,
        }
    ).encode()
    req = urllib.request.Request(
        url + "/chat/completions", data=body, headers={"Content-Type": "application/json"}
    )
    t0 = time.perf_counter()
    with urllib.request.urlopen(req, timeout=300) as resp:
        doc = json.loads(resp.read())
    wall = time.perf_counter() - t0
    timings = doc.get("timings", {})
    out.append(
        {
            "prompt_tokens": doc["usage"]["prompt_tokens"],
            "output_tokens": doc["usage"]["completion_tokens"],
            "prompt_ms": timings.get("prompt_ms"),
            "predicted_per_token_ms": timings.get("predicted_per_token_ms"),
            "wall_s": wall,
        }
    )


def measure(
    model: str,
    threads: int,
    reps: int,
    sizes: tuple[int, ...],
    max_tokens: int,
    max_concurrency: int = 4,
) -> list[dict[str, Any]]:
    from edge_worker.llamacpp.server import LlamaServer

    rng = random.Random(0)
    points: list[dict[str, Any]] = []
    with LlamaServer(
        model=model, parallel=max_concurrency, threads=threads, ctx_per_slot=2048
    ) as srv:
        for _ in range(2):  # warm-up
            _one(srv.base_url, _prompt(rng, 20), 8, [])
        for c in range(1, max_concurrency + 1):
            for words in sizes:
                for _ in range(reps):
                    got: list[dict[str, Any]] = []
                    workers = [
                        threading.Thread(
                            target=_one, args=(srv.base_url, _prompt(rng, words), max_tokens, got)
                        )
                        for _ in range(c)
                    ]
                    for w in workers:
                        w.start()
                    for w in workers:
                        w.join()
                    for g in got:
                        g["concurrency"] = c
                    points.extend(got)
                    print(
                        f"c={c} words={words}: "  # progress on the console
                        f"{statistics.fmean(g['wall_s'] for g in got):.2f} s mean wall"
                    )
    return points


def fit(points: list[dict[str, Any]]) -> dict[str, float]:
    """Least squares: prompt time = a + b·p·(1 + s·(c−1)); tpot = t·(1 + β(c−1) + β₂(c−1)²)."""
    import numpy as np

    c = np.array([p["concurrency"] for p in points], dtype=float) - 1.0
    pk = np.array([p["prompt_tokens"] for p in points], dtype=float) / 1000.0
    pre = np.array([p["prompt_ms"] for p in points], dtype=float) / 1000.0
    tpot = np.array([p["predicted_per_token_ms"] for p in points], dtype=float) / 1000.0
    a_mat = np.column_stack([np.ones_like(pk), pk, pk * c])
    (a, b, bs), *_ = np.linalg.lstsq(a_mat, pre, rcond=None)
    t_mat = np.column_stack([np.ones_like(c), c, c * c])
    (t0, t1, t2), *_ = np.linalg.lstsq(t_mat, tpot, rcond=None)
    return {
        "ttft_s": float(max(a, 1e-3)),
        "prefill_s_per_1k": float(max(b, 1e-4)),
        "prefill_slowdown_per_extra": float(max(bs / b, 0.0)) if b > 0 else 0.0,
        "tpot_s": float(t0),
        "tpot_slowdown_per_extra": float(t1 / t0),
        "tpot_slowdown_quadratic": float(t2 / t0),
        "noise_sigma": float(np.std(np.log(tpot / (t_mat @ np.array([t0, t1, t2]))))),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--model", default="smollm2", help="llama.cpp model name (default smollm2)")
    ap.add_argument("--threads", type=int, default=2, help="llama-server --threads (default 2)")
    ap.add_argument("--reps", type=int, default=2, help="batches per (concurrency, size) point")
    ap.add_argument("--max-tokens", type=int, default=32, help="tokens each answer generates")
    ap.add_argument(
        "--sizes",
        default="60,250,600",
        help="prompt sizes in words, comma-separated (default 60,250,600)",
    )
    ap.add_argument(
        "--out",
        type=Path,
        default=None,
        help="profile file (default bench/experts/profiles/<model>-cpu.json)",
    )
    args = ap.parse_args(argv)
    sizes = tuple(int(s) for s in args.sizes.split(","))
    started = datetime.now(UTC).isoformat(timespec="seconds")
    points = measure(args.model, args.threads, args.reps, sizes, args.max_tokens)
    coef = fit(points)
    name = f"{args.model}-cpu"
    doc = {
        "name": name,
        "model": "assumed",
        "hardware": f"this machine's CPU, {args.threads} threads",
        "flavor": "llamacpp",
        "slots": 4,
        "context_limit": 2048,
        **coef,
        "prefill_stall": 0.0,
        "measured": True,
        "source": (
            f"measured {started} with `python -m bench.experts.measure --model {args.model} "
            f"--threads {args.threads} --reps {args.reps} --max-tokens {args.max_tokens} "
            f"--sizes {args.sizes}`: real llama-server (--parallel 4), concurrency 1..4, "
            "server timings (prompt_ms, predicted_per_token_ms) fitted by least squares; "
            "the machine's 2 cores were shared with other jobs, so the figures are noisy. "
            "Quality is not measured here (assumed tier)."
        ),
        "points": points,
    }
    out = args.out or PROFILE_DIR / f"{name}.json"
    out.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(coef, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
