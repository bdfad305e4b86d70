"""``netgpt train ...``: the edge model's training commands.

Only argparse is imported here; each command imports torch, transformers, trl and peft inside
the function it runs, so ``netgpt --help`` and the serving path never load them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

_EXTRA = "install the training extra first: pip install 'netgpt-gateway[train]'"


def _common(p: argparse.ArgumentParser, *, needs_model: bool) -> None:
    p.add_argument("--data", type=Path, required=True,
                   help="directory with train-*.jsonl and validation-*.jsonl from `netgpt dataset export`")
    p.add_argument("--out", type=Path, required=True,
                   help="directory for the LoRA adapter, model_card.json and train_log.jsonl")
    if needs_model:
        p.add_argument("--model", required=True,
                       help="base model: a local directory, a .gguf file (de-quantised to fp32 on "
                            "load, e.g. the edge's SmolLM2) or a Hugging Face id")
        p.add_argument("--chat-template", type=Path, default=None, metavar="FILE",
                       help="Jinja chat template to train with instead of the model's own: the one "
                            "the edge server renders (for llama.cpp: "
                            "edge_worker/llamacpp/templates/chatml-tools.jinja)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                   help="where to train (auto: cuda when visible; bf16 on GPU, fp32 on CPU)")
    p.add_argument("--seed", type=int, default=0, help="seed for sampling, shuffling and init")
    p.add_argument("--limit", type=int, default=None, help="use at most this many training records")
    p.add_argument("--eval-limit", type=int, default=64,
                   help="validation records scored before and after the run (model card; 0: none)")
    p.add_argument("--offload-tool", default=None, metavar="NAME",
                   help="add the gateway's offload tool NAME to every prompt's tools, as the gateway "
                        "does when it asks the edge (NETGPT_ROUTING_OFFLOAD_TOOL, e.g. "
                        "request_cloud_assistance); default: prompts as logged")
    p.add_argument("--max-new-tokens", type=int, default=64,
                   help="longest generated answer, in tokens (evaluation and RL sampling)")


def _policy_opts(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sft", type=Path, required=True,
                   help="output directory of `netgpt train sft`: the start and the KL reference")
    p.add_argument("--model", default=None, help="base model (default: the one in the SFT model card)")
    p.add_argument("--steps", type=int, default=50, help="policy-gradient steps")
    p.add_argument("--prompts-per-step", type=int, default=8, help="prompts sampled per step")
    p.add_argument("--group-size", type=int, default=4, help="answers sampled per prompt (G)")
    p.add_argument("--temperature", type=float, default=1.0, help="sampling temperature")
    p.add_argument("--lr", type=float, default=1e-4, help="AdamW learning rate")
    p.add_argument("--beta", type=float, default=0.05,
                   help="weight of the reverse-KL trust-region term toward the SFT policy (> 0)")
    p.add_argument("--gamma", type=float, default=0.1,
                   help="weight of the forward-KL realignment: NLL on SFT data mixed into the loss")
    p.add_argument("--nll-batch", type=int, default=8, help="SFT examples per step for the NLL term")
    p.add_argument("--micro-batch", type=int, default=2,
                   help="rows per forward/backward; gradients accumulate over the step's rows, so "
                        "this bounds memory (about 1 GB per row of 1,000 tokens for SmolLM2-135M) "
                        "without changing the update (default: 2)")
    p.add_argument("--clip", type=float, default=0.2, help="PPO ratio clipping epsilon")
    p.add_argument("--updates-per-batch", type=int, default=1,
                   help="optimiser steps on each sampled batch (ratios differ from 1 after the first)")
    p.add_argument("--max-length", type=int, default=1024, help="longest prompt kept, in tokens")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    train = subparsers.add_parser(
        "train",
        help="train the edge model on logged cloud answers (SFT, schema-preserving RL, GAPG)",
        description="Edge self-improvement from the pairs the gateway logged. " + _EXTRA + ".",
    )
    sub = train.add_subparsers(dest="train_command", metavar="STEP", required=True)

    tiny = sub.add_parser("make-tiny-model",
                          help="build a tiny random Qwen2-style model + tokenizer (offline, for tests)")
    tiny.add_argument("--out", type=Path, required=True, help="directory to write the model to")
    tiny.add_argument("--hidden-size", type=int, default=64, help="hidden width")
    tiny.add_argument("--layers", type=int, default=2, help="decoder layers")
    tiny.add_argument("--vocab-size", type=int, default=1024, help="BPE vocabulary size")
    tiny.add_argument("--seed", type=int, default=0, help="seed for weights and tokenizer corpus")
    tiny.set_defaults(func=_needs_extra("netgpt train make-tiny-model", _make_tiny))

    toy = sub.add_parser("make-toy-data",
                         help="write a toy dataset in the export format (always call get_weather)")
    toy.add_argument("--out", type=Path, required=True, help="directory for train/validation JSONL")
    toy.add_argument("--train", type=int, default=64, help="training records")
    toy.add_argument("--validation", type=int, default=16, help="held-out records")
    toy.add_argument("--seed", type=int, default=0, help="seed")
    toy.set_defaults(func=_make_toy)

    sft = sub.add_parser("sft", help="supervised fine-tuning on the cloud's answers (LoRA)")
    _common(sft, needs_model=True)
    sft.add_argument("--epochs", type=float, default=3.0, help="passes over the training data")
    sft.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (0: epochs)")
    sft.add_argument("--batch-size", type=int, default=8, help="examples per optimiser step")
    sft.add_argument("--lr", type=float, default=2e-4, help="learning rate (constant)")
    sft.add_argument("--lora-r", type=int, default=16, help="LoRA rank")
    sft.add_argument("--lora-alpha", type=int, default=32, help="LoRA alpha")
    sft.add_argument("--lora-dropout", type=float, default=0.0, help="LoRA dropout")
    sft.add_argument("--max-length", type=int, default=1024,
                     help="drop examples longer than this many tokens")
    sft.add_argument("--offload-share", type=float, default=0.0,
                     help="share of targets replaced by the offload marker (prepares GAPG)")
    sft.set_defaults(func=_needs_extra("netgpt train sft", _sft))

    rl = sub.add_parser("rl", help="schema-preserving RL anchored to the SFT model (GRPO-style)")
    _common(rl, needs_model=False)
    _policy_opts(rl)
    rl.add_argument("--no-std-scaling", action="store_true",
                    help="group advantages without dividing by the group's standard deviation")
    rl.add_argument("--reward-valid", type=float, default=0.2, help="reward for passing the schema gate")
    rl.add_argument("--reward-name", type=float, default=0.3, help="reward for the cloud's function")
    rl.add_argument("--reward-args", type=float, default=0.5, help="reward for the cloud's arguments")
    rl.set_defaults(func=_needs_extra("netgpt train rl", _rl))

    gapg = sub.add_parser("gapg", help="group-adaptive policy gradient with the offload marker as an action")
    _common(gapg, needs_model=False)
    _policy_opts(gapg)
    gapg.add_argument("--rho", type=float, default=0.2,
                      help="target cloud share: keep at most rho*|D1| all-fail-but-cloud-right prompts")
    gapg.add_argument("--reward-local", type=float, default=1.0, help="correct local answer")
    gapg.add_argument("--reward-cloud", type=float, default=0.25, help="asked for help, cloud correct")
    gapg.add_argument("--reward-formatted", type=float, default=0.1, help="schema-valid but wrong")
    gapg.add_argument("--live-cloud", action="store_true",
                      help="ask the cloud (NETGPT_CLOUD_BASE_URL/MODEL/API_KEY) instead of the logged answer")
    gapg.set_defaults(func=_needs_extra("netgpt train gapg", _gapg))


def _needs_extra(command: str, func: Callable[[argparse.Namespace], int],
                 ) -> Callable[[argparse.Namespace], int]:
    """``func`` behind a check of the train extra: a missing one is named before anything runs."""

    def run(args: argparse.Namespace) -> int:
        from edge_worker.learning.extras import MissingExtra, require_train_extra

        try:
            require_train_extra(command)
        except MissingExtra as exc:
            sys.stderr.write(f"error: {exc}\n")
            return 2
        return func(args)

    return run


def _make_tiny(args: argparse.Namespace) -> int:
    from edge_worker.training.runlog import console, quiet_libraries
    from edge_worker.training.tiny_model import make_tiny_model

    quiet_libraries()
    make_tiny_model(args.out, hidden_size=args.hidden_size, layers=args.layers,
                    vocab_size=args.vocab_size, seed=args.seed)
    console.print(f"tiny model in {args.out}")
    return 0


def _make_toy(args: argparse.Namespace) -> int:
    from edge_worker.training.toy import write_toy_dataset

    write_toy_dataset(args.out, args.train, args.validation, args.seed)
    print(f"toy dataset in {args.out}")  # noqa: T201 (command output)
    return 0


def _sft(args: argparse.Namespace) -> int:
    from edge_worker.training.runlog import library_warnings
    from edge_worker.training.sft import run_sft

    with library_warnings():
        return run_sft(args)


def _rl(args: argparse.Namespace) -> int:
    from edge_worker.training.rl import run_rl
    from edge_worker.training.runlog import library_warnings

    with library_warnings():
        return run_rl(args)


def _gapg(args: argparse.Namespace) -> int:
    from edge_worker.training.gapg import run_gapg
    from edge_worker.training.runlog import library_warnings

    with library_warnings():
        return run_gapg(args)
