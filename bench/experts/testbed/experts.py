"""The testbed's experts: their servers (llama-server or vLLM) and the gateway's experts file."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.experts.testbed.calibrate import ExpertSpec, context_limit, fit_wall, has_timings


def _latency_table(profile: Any) -> str:
    """``[expert.latency]``: the gateway's latency model starts from the calibrated profile, as
    an operator would configure it (the simulator starts from the same prior)."""
    prior = profile.prior()
    keys = ("ttft_s", "prefill_s_per_1k", "ttft_s_per_extra", "prefill_s_per_1k_per_extra",
            "tpot_s", "tpot_s_per_extra")
    return "[expert.latency]\n" + "".join(f"{k} = {getattr(prior, k):.6f}\n" for k in keys) + "\n"


def start_expert(spec: ExpertSpec, threads: int, logdir: Path) -> Any:
    """The expert's server, not yet started: llama-server with ``--parallel`` slots and
    ``threads`` threads, or vLLM with ``--max-num-seqs`` slots (``vllm_env`` for its threads)."""
    log = logdir / f"{spec.name}.log"
    if spec.engine == "vllm":
        from edge_worker.vllm.server import VllmServer

        class TestbedVllm(VllmServer):
            def env(self) -> dict[str, str]:
                return super().env() | vllm_env(threads)

        return TestbedVllm(spec.model, extra_args=("--max-num-seqs", str(spec.parallel)), log_path=log)
    from edge_worker.llamacpp.server import LlamaServer

    return LlamaServer(spec.model, parallel=spec.parallel, threads=threads, alias=spec.model, log_path=log)


def vllm_env(threads: int) -> dict[str, str]:
    """vLLM's CPU worker on ``threads`` OpenMP threads, not bound to cores (the box is shared)."""
    return {"VLLM_CPU_OMP_THREADS_BIND": "nobind", "OMP_NUM_THREADS": str(threads)}


def experts_toml(specs: Sequence[ExpertSpec], urls: dict[str, str], profiles: Sequence[Any]) -> str:
    """The gateway's experts file: one table per expert, its flavour its engine, its latency
    prior the calibrated profile."""
    return "".join(
        f'[[expert]]\nname = "{s.name}"\nbase_url = "{urls[s.name]}"\nmodel = "{s.model}"\n'
        f'flavor = "{s.engine}"\nslots = {s.parallel}\ncontext_limit = {context_limit(s)}\n'
        + _latency_table(prof) for s, prof in zip(specs, profiles, strict=True)
    )


def calibration_fits(specs: Sequence[ExpertSpec], points: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Per expert: which calibration made its profile, and the wall-time fit with its in-sample
    error (for a llama-server expert a cross-check of the fallback against its timings)."""
    out: dict[str, Any] = {}
    for s in specs:
        entry: dict[str, Any] = {"engine": s.engine,
                                 "method": "timings" if has_timings(points[s.name]) else "wall"}
        try:
            entry["wall_fit"] = asdict(fit_wall(points[s.name]))
        except ValueError as exc:
            entry["wall_fit_error"] = str(exc)
        out[s.name] = entry
    return out
