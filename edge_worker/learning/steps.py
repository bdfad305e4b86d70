"""The learning loop's production steps, each a child process whose time and memory are kept.

    export   `netgpt dataset export` of the pairs the gateway logged to Redis -> DIR/export
    base     a GGUF edge model de-quantised once (cached) into trainable HF weights
    train    `netgpt train sft|rl|gapg` on the export (torch runs only in that child)
    convert  the trained LoRA adapter -> a GGUF adapter llama-server loads, and the adapter
             merged into its base (HF and GGUF): the next round's base
    switch   `netgpt edge load-adapter`: the adapter on at the edge, the gateway's edge model
             switched and its calibration refitted
    refit    the calibration refitted alone (POST /v1/router/edge-model)

``netgpt learn round`` runs them against a user's gateway, Redis and edge; the BFCL benchmark
(``netgpt loop``) drives the same functions round after round.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_worker.learning.state import StepFailed, netgpt, run_measured

OFFLOAD_TOOL = "request_cloud_assistance"
VARIANTS = ("sft", "rl", "gapg")


@dataclass(frozen=True)
class TrainSettings:
    """What a training step runs with (defaults: the loop benchmark's full run)."""

    sft_steps: int = 10
    batch_size: int = 4
    lr: float = 2e-4
    rl_steps: int = 2
    gapg_steps: int = 3
    prompts_per_step: int = 2
    group_size: int = 4
    max_new_tokens: int = 96
    max_length: int = 1024
    eval_limit: int = 2
    offload_share: float = 0.1
    rho: float = 0.2
    seed: int = 0
    device: str = "cpu"
    offload_tool: str = OFFLOAD_TOOL


def child_env(threads: int | None) -> dict[str, str] | None:
    """A thread cap also caps torch's threads in training: on a busy box, OpenMP workers
    spinning at their barriers cost far more than the parallelism gives."""
    if not threads:
        return None
    n = str(threads)
    return {**os.environ, "OMP_NUM_THREADS": n, "MKL_NUM_THREADS": n}


def export_pairs(redis_url: str, stream: str, target: Path, log: Path,
                 label: str = "export") -> dict[str, Any]:
    """`netgpt dataset export` of ``stream``; fails when it wrote no training file."""
    cmd = netgpt("dataset", "export", "--redis-url", redis_url, "--stream", stream,
                 "--out", str(target), "--include-text-answers", "--validation-ratio", "0.1",
                 "--json", "--no-progress")
    figures = run_measured(cmd, log)
    written = sorted(target.glob("train-*.jsonl"))
    if not written:
        raise StepFailed(f"{label}: the export wrote no training file; see {log}")
    n_train = sum(1 for p in written for line in p.open() if line.strip())
    return {**figures, "n_train": n_train, "artefacts": [str(p) for p in written]}


def base_weights(gguf: Path, template: Path | None, link: Path, cache: Path, log: Path,
                 env: dict[str, str] | None, say: Callable[[str], None]) -> dict[str, Any]:
    """The GGUF de-quantised once per (GGUF, template) under ``cache``; ``link`` points at it."""
    key = hashlib.sha256()
    for part in (gguf, template) if template else (gguf,):
        with part.open("rb") as handle:
            key.update(hashlib.file_digest(handle, "sha256").digest())
    cached = cache / key.hexdigest()[:16]
    figures: dict[str, Any] = {"cached": True}
    if not (cached / "config.json").is_file():
        say(f"[bold]base[/]: {gguf.name} -> trainable weights in {cached}")
        tmp = cached.with_name(cached.name + ".part")
        shutil.rmtree(tmp, ignore_errors=True)
        cmd = [*netgpt()[:2], "edge_worker.training.convert", "hf", str(gguf), str(tmp)]
        if template is not None:
            cmd += ["--chat-template", str(template)]
        figures = run_measured(cmd, log, env)
        shutil.rmtree(cached, ignore_errors=True)
        tmp.rename(cached)
    if link.is_symlink() or link.exists():
        link.unlink()
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(cached, target_is_directory=True)
    return {**figures, "path": str(cached), "artefacts": [str(link / "config.json")]}


def train_command(kind: str, data: Path, out: Path, *, base: Path | str, sft: Path,
                  template: Path | None, opts: TrainSettings) -> list[str]:
    """`netgpt train KIND` as the loop runs it: SFT from ``base``; RL and GAPG from ``sft``."""
    o = opts
    common = ["--data", str(data), "--out", str(out), "--device", o.device, "--seed", str(o.seed),
              "--eval-limit", str(o.eval_limit), "--max-new-tokens", str(o.max_new_tokens),
              "--offload-tool", o.offload_tool]
    if kind == "sft":
        cmd = netgpt("train", "sft", *common, "--model", str(base))
        if template is not None:
            cmd += ["--chat-template", str(template)]
        return cmd + ["--max-steps", str(o.sft_steps), "--batch-size", str(o.batch_size),
                      "--lr", str(o.lr), "--max-length", str(o.max_length),
                      "--offload-share", str(o.offload_share)]
    cmd = netgpt("train", kind, *common, "--sft", str(sft),
                 "--steps", str(o.rl_steps if kind == "rl" else o.gapg_steps),
                 "--prompts-per-step", str(o.prompts_per_step),
                 "--group-size", str(o.group_size), "--max-length", str(o.max_length),
                 # the NLL anchor back-propagates through whole SFT examples: at the default 8
                 # long BFCL prompts a step peaked at 23 GB; the SFT batch size bounds it
                 "--nll-batch", str(o.batch_size))
    return cmd + ["--rho", str(o.rho)] if kind == "gapg" else cmd


def train_variant(kind: str, data: Path, out: Path, *, base: Path | str, sft: Path,
                  template: Path | None, opts: TrainSettings, log: Path,
                  env: dict[str, str] | None) -> dict[str, Any]:
    """Train one variant (sft, rl or gapg); the figures and its model card's training block."""
    if kind not in VARIANTS:
        raise StepFailed(f"unknown variant {kind!r}: one of {', '.join(VARIANTS)}")
    cmd = train_command(kind, data, out, base=base, sft=sft, template=template, opts=opts)
    figures = run_measured(cmd, log, env)
    card = json.loads((out / "model_card.json").read_text(encoding="utf-8"))
    return {**figures, "training": card.get("training"), "metrics": card.get("metrics"),
            "artefacts": [str(out / "model_card.json")]}


def convert_adapter(adapter_dir: Path, base_hf: Path, adapter_gguf: Path, merged_hf: Path,
                    merged_gguf: Path | None, log: Path,
                    env: dict[str, str] | None) -> dict[str, Any]:
    """A trained adapter -> its GGUF (llama-server --lora) and the merged model (HF, GGUF)."""
    cmd = [*netgpt()[:2], "edge_worker.training.convert", "ship", str(adapter_dir),
           str(base_hf), str(adapter_gguf), str(merged_hf)]
    artefacts = [str(adapter_gguf), str(merged_hf / "config.json")]
    if merged_gguf is not None:
        cmd += ["--gguf", str(merged_gguf)]
        artefacts.append(str(merged_gguf))
    figures = run_measured(cmd, log, env)
    return {**figures, "artefacts": artefacts}


def switch_adapter(adapter: Path, name: str, *, flavor: str, edge_url: str, gateway_url: str,
                   log: Path, gateway_key: str | None = None, refit: bool = True) -> dict[str, Any]:
    """`netgpt edge load-adapter`: the adapter on at the edge, then the gateway switched to
    ``name`` (and its calibration refitted unless ``refit`` is false)."""
    cmd = netgpt("edge", "load-adapter", str(adapter), "--flavor", flavor, "--name", name,
                 "--edge-base-url", edge_url, "--gateway", gateway_url)
    if gateway_key:
        cmd += ["--gateway-key", gateway_key]
    if not refit:
        cmd.append("--no-refit")
    figures = run_measured(cmd, log)
    text = log.read_text(errors="replace")
    return {**figures, "output": text.strip().splitlines()[-3:]}


def refit_calibration(gateway_url: str, model: str, key: str | None = None,
                      timeout_s: float = 300.0) -> dict[str, Any]:
    """POST /v1/router/edge-model with refit: the calibration refitted on ``model``'s records."""
    headers = {"content-type": "application/json"}
    if key:
        headers["authorization"] = f"Bearer {key}"
    req = urllib.request.Request(
        gateway_url.rstrip("/") + "/v1/router/edge-model", headers=headers,
        data=json.dumps({"model": model, "refit_calibration": True}).encode())
    with urllib.request.urlopen(req, timeout=timeout_s) as resp:  # noqa: S310 (operator's URL)
        answer: dict[str, Any] = json.loads(resp.read())
    return answer
