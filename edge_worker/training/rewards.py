"""Rewards: the schema gate, agreement with the cloud's call, and GAPG's hierarchical reward.

Pure functions of a parsed answer and the reference (the cloud's logged answer). The gate uses
the gateway's own schema guard, so "schema-valid" means in training exactly what it means when
the router scores a live edge draft.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from edge_worker.training.chat_format import ParsedAnswer
from gateway.routing.schema_guard import ValidatorCache, check_tool_calls, tool_schemas


@dataclass(frozen=True, slots=True)
class RewardWeights:
    """Schema-preserving reward: ``gate * (valid + name * name_match + args * args_match)``."""

    valid: float = 0.2
    name: float = 0.3
    args: float = 0.5


@dataclass(frozen=True, slots=True)
class HierarchicalRewards:
    """GAPG (SEEDS.md B): local correct > cloud-assisted correct > well formed but wrong > nothing."""

    local_correct: float = 1.0
    cloud_correct: float = 0.25
    formatted_wrong: float = 0.1
    nothing: float = 0.0


@dataclass(frozen=True, slots=True)
class Judgement:
    valid: bool  # the schema gate
    name_match: float  # share of the reference's calls whose function the answer names
    args_match: float  # argument agreement in [0, 1]
    agrees: bool  # same functions with the same arguments
    offload: bool


def _arguments(call: dict[str, Any]) -> Any:
    raw = (call.get("function") or {}).get("arguments")
    if isinstance(raw, str):
        try:
            return json.loads(raw or "{}")
        except json.JSONDecodeError:
            return None
    return raw


def _args_score(got: Any, want: Any) -> float:
    """Share of argument keys (union of both) with equal values; 1.0 for two empty objects."""
    if not isinstance(got, dict) or not isinstance(want, dict):
        return 1.0 if got == want and got is not None else 0.0
    keys = set(got) | set(want)
    if not keys:
        return 1.0
    return sum(1 for k in keys if k in got and k in want and got[k] == want[k]) / len(keys)


def judge(
    answer: ParsedAnswer,
    reference: dict[str, Any],
    tools: list[dict[str, Any]],
    cache: ValidatorCache,
) -> Judgement:
    """Compare an answer with the cloud's reference under the request's tool schemas."""
    want = list(reference.get("tool_calls") or [])
    got = answer.tool_calls
    if answer.parse_error:
        valid = False
    elif want:
        # the cloud called a tool, so must the edge: "names an offered tool" is part of the gate
        check = check_tool_calls(got, tool_schemas(tools), cache, tool_choice="required")
        valid = check.valid
    else:
        valid = not got and not answer.offload and bool(answer.content)
    if not want:
        same = valid and answer.content.strip() == str(reference.get("content") or "").strip()
        return Judgement(valid, 1.0 if same else 0.0, 1.0 if same else 0.0, same, answer.offload)
    names = [(c.get("function") or {}).get("name") for c in got]
    name_hits = 0
    arg_total = 0.0
    for position, ref in enumerate(want):
        ref_name = (ref.get("function") or {}).get("name")
        if ref_name in names:
            name_hits += 1
        # arguments are compared call by call, in order (parallel calls keep the cloud's order)
        if position < len(got) and names[position] == ref_name:
            arg_total += _args_score(_arguments(got[position]), _arguments(ref))
    name_match = name_hits / len(want)
    args_match = arg_total / len(want)
    agrees = valid and len(got) == len(want) and name_match == 1.0 and args_match == 1.0
    return Judgement(valid, name_match, args_match, agrees, answer.offload)


def schema_reward(j: Judgement, w: RewardWeights = RewardWeights()) -> float:  # noqa: B008
    """The RL reward: zero unless the gate passes, then validity plus agreement with the cloud."""
    if not j.valid or j.offload:
        return 0.0
    return w.valid + w.name * j.name_match + w.args * j.args_match


def hierarchical_reward(
    j: Judgement,
    cloud_correct: bool,
    r: HierarchicalRewards = HierarchicalRewards(),  # noqa: B008
) -> float:
    """GAPG's reward for one sampled answer; ``cloud_correct`` is the cloud's result on this prompt."""
    if j.offload:
        return r.cloud_correct if cloud_correct else r.nothing
    if j.agrees:
        return r.local_correct
    if j.valid:
        return r.formatted_wrong
    return r.nothing
