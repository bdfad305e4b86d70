"""``netgpt train rl``: schema-preserving RL anchored to the SFT model (SEEDS.md A).

Reward: a gate (the answer parses, names an offered tool, has the required, well-typed
arguments) times validity plus agreement with the cloud's call. The policy starts from the SFT
adapter; the reference of the reverse-KL term is the same SFT model, frozen; the forward-KL
term is the NLL of the cloud's answers (the SFT data). Logged per step: reward, KL to SFT,
schema-valid rate (``train_log.jsonl``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edge_worker.training.card import TrainLog, read_card, write_card
from edge_worker.training.chat_format import parse_hermes
from edge_worker.training.data import Example, data_hash, load_split, split_files, with_offload_tool
from edge_worker.training.encode import encode_example
from edge_worker.training.evaluate import evaluate
from edge_worker.training.modeling import load_tokenizer, load_with_adapter, pick_device, seed_all
from edge_worker.training.policy_gradient import GroupScores, PGConfig, Scorer, run_policy_gradient
from edge_worker.training.rewards import RewardWeights, judge, schema_reward
from edge_worker.training.runlog import console, quiet_libraries
from gateway.routing.schema_guard import ValidatorCache


def schema_scorer(weights: RewardWeights) -> Scorer:
    cache = ValidatorCache()

    def score(examples: list[Example], texts: list[list[str]]) -> GroupScores:
        rewards: list[list[float]] = []
        valid = agree = total = 0
        for ex, group in zip(examples, texts, strict=True):
            row = []
            for text in group:
                j = judge(parse_hermes(text), ex.reference, ex.tools, cache)
                row.append(schema_reward(j, weights))
                valid += j.valid
                agree += j.agrees
                total += 1
            rewards.append(row)
        metrics = {"schema_valid_rate": valid / total, "agreement_rate": agree / total}
        return GroupScores(rewards, [True] * len(examples), metrics)

    return score


def pg_config(args: argparse.Namespace, *, scale_by_std: bool) -> PGConfig:
    if args.beta <= 0:
        raise SystemExit("--beta must be > 0: the KL term is what anchors the policy to SFT")
    return PGConfig(
        steps=args.steps, prompts_per_step=args.prompts_per_step, group_size=args.group_size,
        max_new_tokens=args.max_new_tokens, temperature=args.temperature, lr=args.lr,
        beta=args.beta, gamma=args.gamma, nll_batch=args.nll_batch,
        micro_batch=args.micro_batch, clip=args.clip,
        updates_per_batch=args.updates_per_batch, scale_by_std=scale_by_std, seed=args.seed,
    )


def run_anchored(
    args: argparse.Namespace,
    kind: str,
    make_scorer: Callable[[Any], Scorer],
    cfg: PGConfig,
) -> int:
    """Shared by rl and gapg: load SFT policy + frozen SFT reference, train, evaluate, write."""
    quiet_libraries()
    seed_all(args.seed)
    device = pick_device(args.device)
    sft_card = read_card(args.sft)
    base = args.model or sft_card["base_model"]
    tokenizer = load_tokenizer(args.sft)
    train = with_offload_tool(load_split(args.data, "train", args.limit), args.offload_tool)
    held_out = with_offload_tool(
        # a small export may have no validation shard: then there is nothing to score
        load_split(args.data, "validation", args.eval_limit)
        if args.eval_limit and split_files(args.data, "validation") else [],
        args.offload_tool,
    )
    features = [encode_example(tokenizer, ex).features() for ex in train]
    features = [f for f in features if len(f["input_ids"]) <= args.max_length]
    train = [ex for ex, f in zip(train, features, strict=False) if len(f["input_ids"]) <= args.max_length]
    policy = load_with_adapter(base, args.sft, device, trainable=True)
    reference = load_with_adapter(base, args.sft, device, trainable=False)
    console.print(f"[bold]{kind}[/] {len(train)} prompts, base {base}, start {args.sft}, device {device}")
    before = evaluate(policy, tokenizer, held_out, max_new_tokens=args.max_new_tokens)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    log = TrainLog(out)
    rows = run_policy_gradient(policy, reference, tokenizer, train, features, cfg,
                               make_scorer(tokenizer), log, kind)
    policy.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    after = evaluate(policy, tokenizer, held_out, max_new_tokens=args.max_new_tokens)
    k = max(1, len(rows) // 5)
    summary = {
        "steps": len(rows),
        "reward_first": sum(r["reward"] for r in rows[:k]) / k,
        "reward_last": sum(r["reward"] for r in rows[-k:]) / k,
        "kl_to_sft_max": max(r["kl_to_sft"] for r in rows),
        "kl_to_sft_last": rows[-1]["kl_to_sft"],
    }
    write_card(
        out, kind=kind, base_model=str(base), init_adapter=str(args.sft),
        data={"dir": args.data, "sha256": data_hash(args.data), "n_train": len(train),
              "n_validation": len(held_out)},
        settings=vars(args), before=before, after=after, training=summary,
    )
    console.print(f"before {before}\nafter  {after}\n{summary}\nadapter and model_card.json in {out}")
    return 0


def run_rl(args: argparse.Namespace) -> int:
    weights = RewardWeights(args.reward_valid, args.reward_name, args.reward_args)
    cfg = pg_config(args, scale_by_std=not args.no_std_scaling)
    return run_anchored(args, "rl", lambda _tok: schema_scorer(weights), cfg)
