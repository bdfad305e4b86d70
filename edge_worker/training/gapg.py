"""``netgpt train gapg``: the group-adaptive policy gradient of SEEDS.md B.

The edge model's action space includes asking for help: an answer carrying the offload marker
(``<unknown> I need external assistance </unknown>``), which the gateway honours as
``offload_requested``. Per prompt, ``G`` answers are sampled; the cloud is asked once if any of
them asked. Rewards are hierarchical (local correct > cloud-assisted correct > well formed but
wrong > nothing); advantages are the reward minus the group mean, never divided by the group's
standard deviation. Adaptive prompt filtering keeps every prompt with a correct local answer
(D1) and at most ``rho * |D1|`` prompts where all local answers fail but the cloud succeeds
(D2), which holds the learned cloud share near ``rho``. The SFT anchor (β, γ) is the same as rl's.
"""

from __future__ import annotations

import argparse
import random
from typing import Any

from edge_worker.training.chat_format import parse_hermes
from edge_worker.training.cloud import CloudOracle, LoggedCloud, live_cloud_from_env
from edge_worker.training.data import Example
from edge_worker.training.policy_gradient import GroupScores, Scorer
from edge_worker.training.rewards import HierarchicalRewards, hierarchical_reward, judge
from edge_worker.training.rl import pg_config, run_anchored
from gateway.routing.schema_guard import ValidatorCache


def filter_prompts(d1: list[int], d2: list[int], rho: float, rng: random.Random) -> set[int]:
    """All of D1 and at most ``floor(rho * |D1|)`` of D2, chosen at random."""
    quota = int(rho * len(d1))
    return set(d1) | set(rng.sample(d2, min(quota, len(d2))))


def gapg_scorer(
    rewards: HierarchicalRewards, rho: float, cloud: CloudOracle, seed: int
) -> Scorer:
    cache = ValidatorCache()
    rng = random.Random(seed)

    def score(examples: list[Example], texts: list[list[str]]) -> GroupScores:
        table: list[list[float]] = []
        d1: list[int] = []
        d2: list[int] = []
        asked = valid = local = total = calls = 0
        for index, (ex, group) in enumerate(zip(examples, texts, strict=True)):
            judged = [judge(parse_hermes(t), ex.reference, ex.tools, cache) for t in group]
            cloud_ok = False
            if any(j.offload for j in judged):
                calls += 1
                cloud_ok = judge(cloud.answer(ex), ex.reference, ex.tools, cache).agrees
            table.append([hierarchical_reward(j, cloud_ok, rewards) for j in judged])
            local_ok = any(j.agrees and not j.offload for j in judged)
            if local_ok:
                d1.append(index)
            elif cloud_ok:
                d2.append(index)
            asked += sum(j.offload for j in judged)
            valid += sum(j.valid and not j.offload for j in judged)
            local += sum(j.agrees and not j.offload for j in judged)
            total += len(judged)
        kept = filter_prompts(d1, d2, rho, rng)
        metrics = {
            "offload_rate": asked / total,
            "schema_valid_rate": valid / total,
            "local_correct_rate": local / total,
            "cloud_calls": float(calls),
            "d1": float(len(d1)),
            "d2": float(len(d2)),
            "d2_kept": float(len(kept) - len(d1)),
        }
        return GroupScores(table, [i in kept for i in range(len(examples))], metrics)

    return score


def run_gapg(args: argparse.Namespace) -> int:
    if not 0 <= args.rho <= 1:
        raise SystemExit("--rho is a share of prompts: give a value in [0, 1]")
    rewards = HierarchicalRewards(args.reward_local, args.reward_cloud, args.reward_formatted)
    cloud: CloudOracle = live_cloud_from_env() if args.live_cloud else LoggedCloud()
    cfg = pg_config(args, scale_by_std=False)

    def make(_tokenizer: Any) -> Scorer:
        return gapg_scorer(rewards, args.rho, cloud, args.seed)

    return run_anchored(args, "gapg", make, cfg)
