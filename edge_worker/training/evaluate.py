"""Held-out metrics of an edge model: what the model card reports before and after a run."""

from __future__ import annotations

from typing import Any

from edge_worker.training.chat_format import OFFLOAD_MARKER, parse_hermes
from edge_worker.training.data import Example
from edge_worker.training.encode import encode_prompt
from edge_worker.training.modeling import generate
from edge_worker.training.rewards import judge, schema_reward
from gateway.routing.schema_guard import ValidatorCache


def evaluate(
    model: Any,
    tokenizer: Any,
    examples: list[Example],
    *,
    max_new_tokens: int = 64,
    batch_size: int = 32,
    offload_marker: str = OFFLOAD_MARKER,
) -> dict[str, float]:
    """Greedy answers on ``examples``: schema-valid rate, agreement with the cloud, offload rate.

    An offloaded answer counts as neither valid nor agreeing: the edge did not answer.
    """
    cache = ValidatorCache()
    prompts = [encode_prompt(tokenizer, ex) for ex in examples]
    completions = generate(
        model, tokenizer, prompts, max_new_tokens=max_new_tokens, batch_size=batch_size
    )
    valid = agree = offload = 0
    reward = 0.0
    for ex, ids in zip(examples, completions, strict=True):
        answer = parse_hermes(tokenizer.decode(ids, skip_special_tokens=True), offload_marker)
        j = judge(answer, ex.reference, ex.tools, cache)
        offload += j.offload
        valid += j.valid and not j.offload
        agree += j.agrees and not j.offload
        reward += schema_reward(j)
    n = max(len(examples), 1)
    return {
        "n": float(len(examples)),
        "schema_valid_rate": valid / n,
        "agreement_rate": agree / n,
        "offload_rate": offload / n,
        "mean_reward": reward / n,
    }
