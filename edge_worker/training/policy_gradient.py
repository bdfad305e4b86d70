"""A small GRPO-style loop we fully control, shared by ``train rl`` and ``train gapg``.

Per step: sample ``G`` answers for each of ``B`` prompts from the current policy, score them
(the caller's :class:`Scorer`), turn rewards into group advantages (reward minus the group mean,
optionally divided by the group's standard deviation), and minimise

    L = -E[min(ρ·A, clip(ρ, 1±ε)·A)]            clipped policy gradient
        + β · E[k3(π_θ ‖ π_SFT)]                   reverse-KL trust region toward the SFT policy
        + γ · NLL(SFT batch)                      forward-KL realignment toward the SFT data

with ``k3 = exp(r) - r - 1``, ``r = log π_SFT - log π_θ`` per token (Schulman's unbiased,
non-negative estimator). TRL's ``GRPOTrainer`` has the β term but not the γ term, and GAPG needs
prompt filtering between scoring and the update; a loop of our own keeps both in one place.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from edge_worker.training.card import TrainLog
from edge_worker.training.data import Example
from edge_worker.training.encode import encode_prompt
from edge_worker.training.modeling import answer_span, completion_logprobs, generate, nll_sum
from edge_worker.training.runlog import progress


@dataclass(slots=True)
class PGConfig:
    steps: int = 50
    prompts_per_step: int = 8
    group_size: int = 4
    max_new_tokens: int = 64
    temperature: float = 1.0
    lr: float = 1e-4
    beta: float = 0.05
    gamma: float = 0.1
    nll_batch: int = 8
    micro_batch: int = 2
    clip: float = 0.2
    updates_per_batch: int = 1
    scale_by_std: bool = True
    seed: int = 0


@dataclass(slots=True)
class GroupScores:
    """What a scorer returns for one step: rewards ``[B][G]``, prompts to train on, metrics."""

    rewards: list[list[float]]
    keep: list[bool]
    metrics: dict[str, float] = field(default_factory=dict)


# (examples, decoded answers [B][G]) -> scores
Scorer = Callable[[list[Example], list[list[str]]], GroupScores]


def group_advantages(rewards: list[list[float]], scale_by_std: bool) -> list[list[float]]:
    """Reward minus the group mean; divided by the group's std only when ``scale_by_std``.

    GAPG keeps the raw difference: dividing rescales every group to unit spread, so a group
    choosing between 1.0 and 0.25 pushes as hard as one choosing between 0.25 and 0.0 and the
    reward hierarchy is lost (SEEDS.md B).
    """
    out = []
    for group in rewards:
        mean = sum(group) / len(group)
        diffs = [r - mean for r in group]
        if scale_by_std:
            std = math.sqrt(sum(d * d for d in diffs) / max(len(group) - 1, 1))
            diffs = [d / (std + 1e-4) for d in diffs]
        out.append(diffs)
    return out


def run_policy_gradient(
    policy: Any,
    reference: Any,
    tokenizer: Any,
    train: list[Example],
    sft_features: list[dict[str, list[int]]],
    cfg: PGConfig,
    scorer: Scorer,
    log: TrainLog,
    label: str,
) -> list[dict[str, Any]]:
    """Run ``cfg.steps`` steps, writing one log row per step; returns the rows."""
    rng = random.Random(cfg.seed)
    pad = tokenizer.pad_token_id
    params = [p for p in policy.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.0)
    prompt_cache: dict[int, list[int]] = {}
    order: list[int] = []
    with progress() as bar:
        task = bar.add_task(label, total=cfg.steps, info="")
        for step in range(1, cfg.steps + 1):
            batch: list[int] = []
            while len(batch) < cfg.prompts_per_step:
                if not order:
                    order = list(range(len(train)))
                    rng.shuffle(order)
                batch.append(order.pop())
            examples = [train[i] for i in batch]
            prompts = [prompt_cache.setdefault(i, encode_prompt(tokenizer, train[i])) for i in batch]
            repeated = [p for p in prompts for _ in range(cfg.group_size)]
            completions = generate(
                policy, tokenizer, repeated, max_new_tokens=cfg.max_new_tokens,
                temperature=cfg.temperature, batch_size=len(repeated),
            )
            texts = [tokenizer.decode(c, skip_special_tokens=True) for c in completions]
            grouped = [texts[i : i + cfg.group_size] for i in range(0, len(texts), cfg.group_size)]
            scores = scorer(examples, grouped)
            advantages = group_advantages(scores.rewards, cfg.scale_by_std)
            row = _update(policy, reference, optimiser, params, repeated, completions,
                          advantages, scores.keep, sft_features, cfg, rng, pad)
            flat = [r for group in scores.rewards for r in group]
            row = {"step": step, "reward": sum(flat) / len(flat), **scores.metrics, **row}
            log.write(row)
            bar.update(task, advance=1,
                       info=f"reward {row['reward']:.3f} kl {row['kl_to_sft']:.4f}")
    return log.rows


def _chunks(n: int, size: int) -> list[slice]:
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


def _update(
    policy: Any,
    reference: Any,
    optimiser: torch.optim.Optimizer,
    params: list[torch.nn.Parameter],
    prompts: list[list[int]],
    completions: list[list[int]],
    advantages: list[list[float]],
    keep: list[bool],
    sft_features: list[dict[str, list[int]]],
    cfg: PGConfig,
    rng: random.Random,
    pad: int,
) -> dict[str, float]:
    """One optimiser step per ``updates_per_batch``, gradients accumulated over micro-batches.

    Every term of the loss is a sum over rows (or answer tokens) divided by a count known
    before the first backward, so ``micro_batch`` rows at a time give the same gradient as
    the whole batch at once while holding one micro-batch's activations (the activations of
    16 rows of ~1,000 tokens are tens of GB on a real model).
    """
    g = cfg.group_size
    n = len(prompts)
    device = next(policy.parameters()).device
    adv = torch.tensor([a for group in advantages for a in group], device=device)
    kept = torch.tensor([k for k in keep for _ in range(g)], dtype=torch.float32, device=device)
    n_kept = float(kept.sum().clamp(min=1))
    parts = _chunks(n, max(cfg.micro_batch, 1))
    with torch.no_grad():
        ref_lp = [completion_logprobs(reference, prompts[c], completions[c], pad, cfg.temperature)[0]
                  for c in parts]
    old_lp: list[torch.Tensor] = []
    policy.train()
    stats: dict[str, float] = {}
    for _ in range(cfg.updates_per_batch):
        optimiser.zero_grad(set_to_none=True)
        pg_total = kl_total = nll_total = 0.0
        # a fresh SFT batch for every optimiser step; its answer tokens are the NLL's denominator
        nll_batch = (rng.sample(sft_features, min(cfg.nll_batch, len(sft_features)))
                     if cfg.gamma > 0 and sft_features else [])
        nll_tokens = sum(end - start for start, end in (answer_span(f["labels"]) for f in nll_batch))
        for j, c in enumerate(parts):
            lp, mask = completion_logprobs(policy, prompts[c], completions[c], pad, cfg.temperature)
            if len(old_lp) <= j:
                # the sampling policy: these very weights, so the first ratio is exactly 1
                old_lp.append(lp.detach())
            ratio = torch.exp(lp - old_lp[j])
            clipped = torch.clamp(ratio, 1 - cfg.clip, 1 + cfg.clip)
            a = adv[c][:, None]
            per_token = -torch.minimum(ratio * a, clipped * a)
            log_r = ref_lp[j] - lp
            kl_token = torch.exp(log_r) - log_r - 1
            lengths = mask.sum(-1).clamp(min=1)
            pg_seq = (per_token * mask).sum(-1) / lengths
            kl_seq = (kl_token * mask).sum(-1) / lengths
            # filtered-out prompts (GAPG) contribute no policy gradient; the KL covers every sample
            pg = (pg_seq * kept[c]).sum() / n_kept
            kl = kl_seq.sum() / n
            loss = pg + cfg.beta * kl
            if not torch.isfinite(loss):
                raise SystemExit(f"the loss became {loss.item()}; lower --lr or raise --beta")
            loss.backward()
            pg_total += pg.item()
            kl_total += kl.item()
        for c in _chunks(len(nll_batch), max(cfg.micro_batch, 1)):
            total, _ = nll_sum(policy, nll_batch[c], pad)
            (cfg.gamma * total / max(nll_tokens, 1)).backward()
            nll_total += total.item() / max(nll_tokens, 1)
        norm = torch.nn.utils.clip_grad_norm_(params, 1.0)
        if not torch.isfinite(norm):  # every term's gradient, the NLL's included
            raise SystemExit(f"the gradient became {norm.item()}; lower --lr or raise --beta")
        optimiser.step()
        stats = {"loss": pg_total + cfg.beta * kl_total + cfg.gamma * nll_total, "pg_loss": pg_total,
                 "kl_to_sft": kl_total, "nll_sft": nll_total, "kept_prompts": float(sum(keep))}
    return stats
