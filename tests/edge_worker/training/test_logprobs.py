"""Log-probabilities from the scored positions only, and micro-batched policy updates.

The memory fix for RL on a real model must not change the maths: the selective LM head gives
the same log-probabilities as a softmax over full logits, and accumulating gradients over
micro-batches gives the same update as one batch.
"""

from __future__ import annotations

import copy
import random

import pytest
import torch
import torch.nn.functional as F  # noqa: N812

from edge_worker.training.modeling import completion_logprobs, nll_sum
from edge_worker.training.policy_gradient import PGConfig, _update

# peft asks transformers for a property transformers 5 deprecates (a library-to-library warning)
pytestmark = [pytest.mark.train,
              pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from edge_worker.training.tiny_model import make_tiny_model

    path = make_tiny_model(tmp_path_factory.mktemp("tiny"))
    base = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    reference = copy.deepcopy(base).eval()
    lora = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=["q_proj", "v_proj"],
                      task_type="CAUSAL_LM")
    policy = get_peft_model(base, lora)
    # a non-zero adapter, so policy and reference differ and the KL term has a gradient
    with torch.no_grad():
        for name, p in policy.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05)
    return policy, reference


def _batch(seed: int, n: int) -> tuple[list[list[int]], list[list[int]]]:
    rng = random.Random(seed)
    prompts = [[rng.randrange(3, 600) for _ in range(rng.randrange(5, 30))] for _ in range(n)]
    completions = [[rng.randrange(3, 600) for _ in range(rng.randrange(1, 9))] for _ in range(n)]
    return prompts, completions


def test_selective_head_matches_full_logits(tiny):
    policy, _ = tiny
    prompts, completions = _batch(0, 5)
    with torch.no_grad():
        got, mask = completion_logprobs(policy, prompts, completions, pad=0, temperature=0.7)
        for i, (p, c) in enumerate(zip(prompts, completions, strict=True)):
            logits = policy(input_ids=torch.tensor([p + c])).logits[0]
            full = F.log_softmax(logits[len(p) - 1 : len(p) - 1 + len(c)] / 0.7, dim=-1)
            want = full.gather(-1, torch.tensor(c)[:, None]).squeeze(-1)
            assert mask[i].sum() == len(c)
            torch.testing.assert_close(got[i, : len(c)], want, rtol=1e-4, atol=1e-4)
            assert torch.all(got[i, len(c) :] == 0)


def test_nll_matches_the_models_own_loss(tiny):
    policy, _ = tiny
    prompts, completions = _batch(1, 4)
    features = [{"input_ids": p + c, "labels": [-100] * len(p) + c}
                for p, c in zip(prompts, completions, strict=True)]
    with torch.no_grad():
        total, count = nll_sum(policy, features, pad=0)
        got = total / count
        width = max(len(f["input_ids"]) for f in features)
        ids = torch.zeros((4, width), dtype=torch.long)
        labels = torch.full((4, width), -100)
        attn = torch.zeros((4, width), dtype=torch.long)
        for i, f in enumerate(features):
            n = len(f["input_ids"])
            ids[i, :n], labels[i, :n], attn[i, :n] = torch.tensor(f["input_ids"]), torch.tensor(f["labels"]), 1
        want = policy(input_ids=ids, attention_mask=attn, labels=labels).loss
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("updates", [1, 2])
def test_micro_batches_give_the_same_update(tiny, tmp_path, updates):
    policy, reference = tiny
    prompts, completions = _batch(2, 6)
    advantages = [[1.0, -0.5, -0.5], [0.3, 0.2, -0.5]]
    sft = [{"input_ids": p + c, "labels": [-100] * len(p) + c}
           for p, c in zip(*_batch(3, 3), strict=True)]
    start = {k: v.detach().clone() for k, v in policy.named_parameters() if v.requires_grad}
    after = []
    for micro in (6, 1, 4):
        with torch.no_grad():
            for k, v in policy.named_parameters():
                if k in start:
                    v.copy_(start[k])
        params = [p for p in policy.parameters() if p.requires_grad]
        optimiser = torch.optim.SGD(params, lr=0.5)
        cfg = PGConfig(group_size=3, micro_batch=micro, nll_batch=2, gamma=0.3, beta=0.2,
                       updates_per_batch=updates)
        stats = _update(policy, reference, optimiser, params, prompts, completions, advantages,
                        [True, False], sft, cfg, random.Random(0), pad=0)
        after.append(({k: v.detach().clone() for k, v in policy.named_parameters() if k in start},
                      stats))
    whole, whole_stats = after[0]
    assert any(not torch.equal(whole[k], start[k]) for k in start)  # the step moved something
    assert whole_stats["kl_to_sft"] > 0 and whole_stats["nll_sft"] > 0
    for params, stats in after[1:]:
        for k in start:
            torch.testing.assert_close(params[k], whole[k], rtol=1e-4, atol=1e-6)
        for key in ("loss", "pg_loss", "kl_to_sft", "nll_sft"):
            assert stats[key] == pytest.approx(whole_stats[key], rel=1e-4, abs=1e-6)



def test_an_empty_prompt_is_refused(tiny):
    policy, _ = tiny
    with pytest.raises(ValueError, match="empty prompt"):
        completion_logprobs(policy, [[]], [[5, 6]], pad=0)
