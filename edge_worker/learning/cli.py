"""``netgpt learn round``: one round of the learning loop against a running deployment.

Only argparse is imported at registration; the round imports nothing heavy itself (training and
conversion run as child processes), and it checks the train extra before its first step.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from edge_worker.learning.extras import TRAIN_INSTALL
from edge_worker.learning.round import RoundOptions
from edge_worker.learning.steps import OFFLOAD_TOOL, VARIANTS, TrainSettings

_DEFAULTS = TrainSettings()


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    learn = subparsers.add_parser(
        "learn",
        help="the learning loop on your deployment: export -> train -> convert -> switch -> refit",
        description="Improve the edge model from what the gateway logged, against your own "
                    f"gateway, Redis and edge. Needs the train extra ({TRAIN_INSTALL}).",
    )
    sub = learn.add_subparsers(dest="learn_command", metavar="ACTION", required=True)
    p = sub.add_parser(
        "round",
        help="one round: export the logged pairs, train, convert, load the adapter, refit",
        description=(
            "One learning round. (1) `netgpt dataset export` of the cloud-routed and shadow "
            "pairs in the Redis stream; (2) for a .gguf --model, its weights de-quantised once "
            "(cached); (3) `netgpt train sft`, then the policy-gradient variants asked for; "
            "(4) llama.cpp edge: the shipped adapter converted to GGUF (--merge: also merged "
            "into its base, the next round's --model); (5) `netgpt edge load-adapter`: the "
            "adapter switched on at the edge, the gateway's edge model switched to --name and "
            "its calibration refitted. Resumable: run the same command with the same --out to "
            "continue after a failure. A llama-server switches only adapters it was started "
            "with (`netgpt edge run --lora FILE`); the round says so and stops before step 5 "
            "when the edge does not list the new adapter."
        ),
        epilog="Training runs on this machine (--device). The train extra is checked before "
               "anything starts.",
    )
    _deployment(p)
    _training(p)
    p.set_defaults(func=run_round)


def _default_flavor() -> str:
    configured = os.environ.get("NETGPT_EDGE_FLAVOR", "").strip().lower().replace(".", "")
    return configured if configured in ("llamacpp", "vllm") else "llamacpp"


def _deployment(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, required=True, metavar="DIR",
                   help="where the export, the trained adapters, logs and state.json go")
    p.add_argument("--redis-url", default=os.environ.get("NETGPT_REDIS_URL"), metavar="URL",
                   help="the Redis the gateway logs to (default: NETGPT_REDIS_URL)")
    p.add_argument("--stream", default=os.environ.get("NETGPT_DATASET_STREAM_KEY", "netgpt:pairs"),
                   metavar="KEY",
                   help="the Redis stream of logged pairs (default: NETGPT_DATASET_STREAM_KEY or "
                        "netgpt:pairs)")
    p.add_argument("--gateway-url", default="http://127.0.0.1:8080", metavar="URL",
                   help="the gateway's base URL, switched to the new model (default: %(default)s)")
    p.add_argument("--gateway-key", default=None, metavar="KEY",
                   help="a client key for the gateway (default: the first of NETGPT_API_KEYS)")
    p.add_argument("--edge-url", default=os.environ.get("NETGPT_EDGE_BASE_URL",
                                                        "http://127.0.0.1:8000/v1"),
                   metavar="URL",
                   help="the edge server's OpenAI base URL, ending in /v1 (default: "
                        "NETGPT_EDGE_BASE_URL or http://127.0.0.1:8000/v1)")
    p.add_argument("--flavor", choices=["llamacpp", "vllm"], default=_default_flavor(),
                   help="the edge server: llamacpp (adapter converted to GGUF, switched on with "
                        "POST /lora-adapters) or vllm (adapter directory loaded at run time); "
                        "default: NETGPT_EDGE_FLAVOR, else llamacpp")
    p.add_argument("--model", required=True, metavar="GGUF|DIR|ID",
                   help="the base the edge serves now: its .gguf file (llama.cpp; e.g. the file "
                        "`netgpt edge install` fetched), a Hugging Face directory or id")
    p.add_argument("--chat-template", type=Path, default=None, metavar="FILE",
                   help="the Jinja chat template the edge renders (llama.cpp: "
                        "edge_worker/llamacpp/templates/chatml-tools.jinja); default: the model's")
    p.add_argument("--name", required=True,
                   help="model name the adapter is served under; the gateway's edge model "
                        "becomes NAME")
    p.add_argument("--no-switch", action="store_true",
                   help="stop once the adapter is ready; switch later with `netgpt edge load-adapter`")
    p.add_argument("--merge", action="store_true",
                   help="llama.cpp: also merge the adapter into its base (DIR/merged-hf, "
                        "DIR/merged.gguf): the --model of the next round")


def _training(p: argparse.ArgumentParser) -> None:
    d = _DEFAULTS
    p.add_argument("--variant", action="append", choices=list(VARIANTS), default=None,
                   dest="variants",
                   help="variants to train, repeatable; sft always (default: sft and gapg)")
    p.add_argument("--ship", choices=list(VARIANTS), default=None,
                   help="the variant shipped to the edge (default: the last one trained)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                   help="where to train (default: auto: cuda when visible)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads in training (OMP_NUM_THREADS; default: all cores)")
    p.add_argument("--sft-steps", type=int, default=d.sft_steps,
                   help="SFT optimiser steps (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=d.batch_size,
                   help="SFT examples per step, and the NLL anchor's batch (default: %(default)s)")
    p.add_argument("--lr", type=float, default=d.lr, help="SFT learning rate (default: %(default)s)")
    p.add_argument("--rl-steps", type=int, default=d.rl_steps, help="RL steps (default: %(default)s)")
    p.add_argument("--gapg-steps", type=int, default=d.gapg_steps,
                   help="GAPG steps (default: %(default)s)")
    p.add_argument("--prompts-per-step", type=int, default=d.prompts_per_step,
                   help="RL/GAPG prompts per step (default: %(default)s)")
    p.add_argument("--group-size", type=int, default=d.group_size,
                   help="RL/GAPG answers per prompt (default: %(default)s)")
    p.add_argument("--max-new-tokens", type=int, default=d.max_new_tokens,
                   help="longest sampled answer in training (default: %(default)s)")
    p.add_argument("--max-length", type=int, default=d.max_length,
                   help="longest training example in tokens; longer ones are dropped "
                        "(default: %(default)s)")
    p.add_argument("--eval-limit", type=int, default=d.eval_limit,
                   help="validation records each training step scores (default: %(default)s)")
    p.add_argument("--offload-share", type=float, default=d.offload_share,
                   help="share of SFT targets replaced by the offload marker (default: %(default)s)")
    p.add_argument("--rho", type=float, default=d.rho, help="GAPG's target cloud share (default: %(default)s)")
    p.add_argument("--offload-tool", default=OFFLOAD_TOOL, metavar="NAME",
                   help="the gateway's offload tool (NETGPT_ROUTING_OFFLOAD_TOOL; default: %(default)s)")
    p.add_argument("--seed", type=int, default=d.seed, help="seed for training (default: %(default)s)")


def _gateway_key(args: argparse.Namespace) -> str | None:
    if args.gateway_key:
        return str(args.gateway_key)
    keys = [k.strip() for k in os.environ.get("NETGPT_API_KEYS", "").split(",") if k.strip()]
    return keys[0] if keys else None


def options(args: argparse.Namespace) -> RoundOptions:
    variants = tuple(k for k in VARIANTS if k in set(args.variants or ("sft", "gapg")) | {"sft"})
    train = TrainSettings(
        sft_steps=args.sft_steps, batch_size=args.batch_size, lr=args.lr, rl_steps=args.rl_steps,
        gapg_steps=args.gapg_steps, prompts_per_step=args.prompts_per_step,
        group_size=args.group_size, max_new_tokens=args.max_new_tokens,
        max_length=args.max_length, eval_limit=args.eval_limit, offload_share=args.offload_share,
        rho=args.rho, seed=args.seed, device=args.device, offload_tool=args.offload_tool)
    return RoundOptions(
        out=args.out, redis_url=args.redis_url, stream=args.stream,
        gateway_url=args.gateway_url.rstrip("/"), edge_url=args.edge_url.rstrip("/"),
        flavor=args.flavor, model=args.model, name=args.name, chat_template=args.chat_template,
        variants=variants, ship=args.ship or variants[-1], merge=args.merge,
        switch=not args.no_switch, gateway_key=_gateway_key(args), threads=args.threads,
        train=train)


def run_round(args: argparse.Namespace) -> int:
    from edge_worker.learning.extras import MissingExtra, require_train_extra
    from edge_worker.learning.round import LearnRound
    from edge_worker.learning.state import StepFailed

    def say(text: str) -> None:
        sys.stderr.write(_plain(text) + "\n")
        sys.stderr.flush()

    try:
        require_train_extra("netgpt learn round")
    except MissingExtra as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    if not args.redis_url:
        sys.stderr.write("error: no Redis to export from: pass --redis-url redis://HOST:PORT/DB "
                         "(the gateway's NETGPT_REDIS_URL)\n")
        return 2
    if args.model.endswith(".gguf") and not Path(args.model).is_file():
        sys.stderr.write(f"error: --model {args.model}: no such file\n")
        return 2
    try:
        result = LearnRound(options(args), say).run()
    except StepFailed as exc:
        sys.stderr.write(f"error: {exc}\n")
        sys.stderr.write("fix the cause and run the same command again: finished steps are kept\n")
        return 1
    sys.stdout.write(("switched the edge to " + result["name"]) if result["switched"]
                     else f"adapter ready: {result['adapter']}")
    sys.stdout.write("\n")
    return 0


def _plain(text: str) -> str:
    """The rich markup the shared steps print, dropped (this command prints plain lines)."""
    for tag in ("[bold]", "[/]", "[dim]"):
        text = text.replace(tag, "")
    return text
